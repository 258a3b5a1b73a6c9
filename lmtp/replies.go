package lmtp

import (
	"errors"

	"github.com/emersion/go-smtp"
)

// errDelivered is the reply to a recipient the backend stored the message
// for (go-smtp's own text for success says "queued").
var errDelivered error = &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Delivered"}

// reply turns an error into the LMTP reply the client sees: the one place
// where the proxy's errors meet the protocol. A reply a backend sent passes
// through as it is; an error nobody expected becomes a temporary failure,
// so that the MTA keeps the message and tries again.
func reply(err error) error {
	if err == nil {
		return nil
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	switch {
	case errors.Is(err, ErrBadAddress):
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Malformed recipient address"}
	case errors.Is(err, ErrUnknownDomain):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 2}, Message: "Domain not served here"}
	case errors.Is(err, ErrNoUser):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
	case errors.Is(err, ErrTooManyRcpts):
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "Too many recipients"}
	case errors.Is(err, ErrTooBig):
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big"}
	case errors.Is(err, ErrUnavailable):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "Mailbox temporarily unavailable, try again later"}
	case errors.Is(err, ErrBackendDown):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 1}, Message: "Mail store unavailable, try again later"}
	case errors.Is(err, ErrClosed):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Server stopping, try again later"}
	}
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure, try again later"}
}
