package pop3front

import (
	"errors"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/imapfront"
)

// reply is the one place where errors become POP3 responses, with the
// response codes of RFC 2449 and RFC 3206. Failed logins all look alike;
// what may pass is SYS/TEMP so that the client tries again.
func (s *session) reply(err error) {
	switch {
	case errors.Is(err, imapfront.ErrBadCredentials), errors.Is(err, fsm.ErrNoUser),
		errors.Is(err, fsm.ErrInvalidUser), errors.Is(err, imapfront.ErrNotAdmin),
		errors.Is(err, imapfront.ErrUserDisabled):
		s.err("[AUTH] invalid credentials")
	case errors.Is(err, imapfront.ErrTooManyConns):
		s.err("[SYS/TEMP] too many connections for this user")
	case errors.Is(err, ErrNoInbox):
		s.err("[SYS/PERM] no INBOX")
	default:
		s.err("[SYS/TEMP] maildrop unavailable; try again")
	}
}
