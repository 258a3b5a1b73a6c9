package lmtpd

import (
	"context"
	"errors"

	"github.com/emersion/go-smtp"
	"github.com/rookery-mail/rookery/backend/quota"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
)

// reply turns an error into the SMTP reply the client sees. It is the one
// place that does: a Go error string never reaches a client, and an error
// it does not know becomes a temporary failure, so the sending MTA keeps
// the message and retries rather than bouncing it.
func reply(err error) *smtp.SMTPError {
	var se *smtp.SMTPError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return se
	case errors.Is(err, spool.ErrTooBig):
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big"}
	case errors.Is(err, quota.ErrOver):
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: "Mailbox full"}
	case errors.Is(err, quota.ErrUnavailable):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "Mailbox usage cannot be checked now, try again later"}
	case errors.Is(err, smtp.ErrTooLongLine):
		return &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "Line too long"}
	case errors.Is(err, ErrBadAddress):
		return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax"}
	case errors.Is(err, fsm.ErrNoDomain):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 2}, Message: "Domain not served here"}
	case errors.Is(err, fsm.ErrNoUser):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
	case errors.Is(err, ErrNotHere), errors.Is(err, fsm.ErrMailboxMoving),
		errors.Is(err, fsm.ErrNoMailbox), errors.Is(err, spool.ErrNoMailbox):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "Mailbox not available here now, try again later"}
	case errors.Is(err, spool.ErrDiskFull):
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage, try again later"}
	case errors.Is(err, ErrClosing):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Server stopping, try again later"}
	case errors.Is(err, context.DeadlineExceeded):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Timed out, try again later"}
	}
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure, try again later"}
}

// replyErr is reply as an error value for go-smtp, which wants a nil
// interface on success.
func replyErr(err error) error {
	if r := reply(err); r != nil {
		return r
	}
	return nil
}

// deliveredReply is the reply to a recipient whose copy the store holds:
// it is on disk (and on the mailbox's in-sync replicas), not queued.
var deliveredReply = &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Delivered"}

// rcptStatus is a recipient's status after DATA: err's reply, or
// deliveredReply (go-smtp's own text for success says "queued").
func rcptStatus(err error) error {
	if err == nil {
		return deliveredReply
	}
	return reply(err)
}
