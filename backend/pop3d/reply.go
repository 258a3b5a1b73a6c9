package pop3d

import (
	"errors"

	"github.com/rookery-mail/rookery/spool"
)

// reply is the one place where errors become POP3 responses, with the
// response codes of RFC 2449 and RFC 3206. A client sees a fixed text,
// never a Go error string; errors that may pass are SYS/TEMP so that the
// client retries.
func (s *session) reply(err error) {
	switch {
	case errors.Is(err, ErrAuth):
		s.err("[AUTH] invalid credentials")
	case errors.Is(err, ErrNoInbox):
		s.err("[SYS/PERM] no INBOX")
	case errors.Is(err, ErrNotHere), errors.Is(err, ErrDirectory):
		s.err("[SYS/TEMP] maildrop is being moved; try again")
	case errors.Is(err, spool.ErrNoMessage):
		s.err("message was removed by another session")
	case spool.Temporary(err):
		s.err("[SYS/TEMP] try again later")
	default:
		s.log.Error("unexpected error", "err", err)
		s.err("[SYS/TEMP] server error")
	}
}
