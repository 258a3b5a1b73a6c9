package imapfront

import "errors"

// Login authenticates a client of another protocol this node's frontend
// serves (POP3) exactly as LOGIN and AUTHENTICATE PLAIN do here: the same
// password check, admin authorization id, delay after failed logins per
// client address and per user and per-user connection limit, counted
// together with the IMAP sessions. addr is the client's IP. It returns the
// user the session acts for and a release to call when the session ends.
func (s *Server) Login(addr, authz, user, password string) (string, func(), error) {
	if !s.waitPenalty(addr, user, nil) {
		return "", nil, ErrClosed
	}
	sess := &session{srv: s, cfg: &s.cfg, log: s.cfg.Logger, addr: addr}
	authc, err := sess.checkPassword(user, password)
	if err != nil {
		if !errors.Is(err, ErrPasswordsUnavailable) {
			s.loginResult(addr, user, false)
		}
		return "", nil, err
	}
	as := authc.Name
	if authz != "" {
		target, err := sess.authorize(authc, authz)
		if err != nil {
			s.loginResult(addr, user, false)
			return "", nil, err
		}
		as = target.Name
	}
	s.loginResult(addr, user, true)
	if !s.addUserConn(as) {
		return "", nil, ErrTooManyConns
	}
	return as, func() { s.dropUserConn(as) }, nil
}
