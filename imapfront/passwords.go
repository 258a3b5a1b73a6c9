package imapfront

import (
	"context"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/fsm"
)

// Passwords decides a login where the directory's stored hash alone does
// not: a cache of verified logins, a password source beside the directory
// (LDAP), and users such a source knows that the directory does not yet
// hold. internal/node provides it; without one, the stored hash decides.
type Passwords interface {
	// Check reports whether pw is the password of u, whom the client
	// named login. An error wrapping ErrPasswordsUnavailable says that a
	// source could not tell (LDAP down): the client is told to try later.
	Check(ctx context.Context, login string, u *fsm.User, pw string) (bool, error)
	// Provision is asked for a login the directory does not know: it
	// returns the directory's user once a source has vouched for login and
	// pw (and made the user, where the site lets it), fsm.ErrNoUser when
	// none knows them, or an error wrapping ErrPasswordsUnavailable.
	Provision(ctx context.Context, login, pw string) (*fsm.User, error)
}

// userPassword checks pw against u, through Passwords when there is one.
func (s *session) userPassword(login string, u *fsm.User, pw string) (bool, error) {
	if s.cfg.Passwords == nil {
		return auth.CheckPassword(u.PasswordHash, pw), nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
	return s.cfg.Passwords.Check(ctx, login, u, pw)
}

// provisionUser asks Passwords for a user the directory lacks.
func (s *session) provisionUser(login, pw string) (*fsm.User, error) {
	if s.cfg.Passwords == nil {
		return nil, fsm.ErrNoUser
	}
	ctx, cancel := s.ctx()
	defer cancel()
	return s.cfg.Passwords.Provision(ctx, login, pw)
}
