package imapd

import (
	"context"
	"errors"

	"github.com/emersion/go-imap/v2"

	"github.com/rookery-mail/rookery/backend/quota"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
)

// imapError is the one place where errors become IMAP responses. A client
// sees a response code and a fixed text, never a Go error string. Errors
// nobody expected are logged and answered as a server bug; errors that may
// pass (I/O, a directory without a leader) are answered as UNAVAILABLE so
// that the client retries.
func (s *session) imapError(err error) error {
	if err == nil {
		return nil
	}
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie
	}
	no := func(code imap.ResponseCode, text string) error {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
	}
	switch {
	case errors.Is(err, fsm.ErrNoMailbox), errors.Is(err, spool.ErrNoMailbox):
		return no(imap.ResponseCodeNonExistent, "No such mailbox")
	case errors.Is(err, fsm.ErrNameExists), errors.Is(err, spool.ErrMailboxExists):
		return no(imap.ResponseCodeAlreadyExists, "Mailbox already exists")
	case errors.Is(err, fsm.ErrInvalidName):
		return no(imap.ResponseCodeCannot, "Invalid mailbox name")
	case errors.Is(err, fsm.ErrInvalidCommand):
		return no(imap.ResponseCodeCannot, "Operation not allowed on this mailbox")
	case errors.Is(err, ErrNoPermission):
		return no(imap.ResponseCodeNoPerm, "Permission denied")
	case errors.Is(err, quota.ErrOver):
		return no(imap.ResponseCodeOverQuota, "Quota exceeded")
	case errors.Is(err, quota.ErrUnavailable):
		s.srv.log.Warn("quota usage unavailable", "user", s.user, "err", err)
		return no(imap.ResponseCodeUnavailable, "Quota usage cannot be checked now; try again")
	case errors.Is(err, ErrReadOnly):
		return no(imap.ResponseCodeCannot, "Mailbox is read-only")
	case errors.Is(err, ErrNotHere):
		return no(imap.ResponseCodeUnavailable, "Mailbox is served by another backend")
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrDirectory), errors.Is(err, fsm.ErrNotActive), errors.Is(err, fsm.ErrWrongReservation):
		return no(imap.ResponseCodeUnavailable, "Mailbox is being changed; try again")
	case errors.Is(err, spool.ErrNoMessage):
		return no(imap.ResponseCodeNonExistent, "No such message")
	case errors.Is(err, spool.ErrTooBig):
		return no(imap.ResponseCodeTooBig, "Message is too big")
	case errors.Is(err, spool.ErrShortBody):
		return &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: "Message ended before its announced size; nothing stored"}
	case errors.Is(err, spool.ErrInvalidFlag):
		return &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: "Invalid flag"}
	case errors.Is(err, spool.ErrUIDsExhausted):
		return no(imap.ResponseCodeLimit, "Mailbox has no UIDs left")
	case errors.Is(err, spool.ErrDiskFull):
		s.srv.log.Error("mail store is full", "err", err)
		return no(imap.ResponseCodeUnavailable, "Mail store is full; try again later")
	case spool.Temporary(err), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		s.srv.log.Warn("temporary failure", "user", s.user, "err", err)
		return no(imap.ResponseCodeUnavailable, "Temporary failure; try again")
	}
	s.srv.log.Error("unexpected error", "user", s.user, "err", err)
	return no(imap.ResponseCodeServerBug, "Internal server error")
}

// destError is imapError for the target of APPEND, COPY and MOVE, where a
// missing mailbox is TRYCREATE (RFC 3501 section 6.3.11).
func (s *session) destError(err error) error {
	if errors.Is(err, fsm.ErrNoMailbox) || errors.Is(err, spool.ErrNoMailbox) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "No such mailbox"}
	}
	return s.imapError(err)
}
