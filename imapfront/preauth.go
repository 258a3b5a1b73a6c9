package imapfront

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// capabilities lists what the frontend can honour in the current state.
// After login it is the part of the backends' extensions that passes
// through a proxy intact, plus what the frontend answers itself.
func (s *session) capabilities() string {
	if s.user == "" {
		// RFC 7888 section 5: before login only LITERAL-, so that an
		// unauthenticated client cannot send large literals unasked.
		caps := []string{"IMAP4rev1", "LITERAL-", "SASL-IR", "ID"}
		if s.cfg.TLS != nil && !s.tls {
			caps = append(caps, "STARTTLS")
		}
		if s.loginAllowed() {
			caps = append(caps, authMechanisms()...)
		} else {
			caps = append(caps, "LOGINDISABLED")
		}
		return strings.Join(caps, " ")
	}
	caps := []string{"IMAP4rev1", "LITERAL+", "SASL-IR", "ID",
		"ENABLE", "UTF8=ACCEPT", "NAMESPACE", "UNSELECT", "IDLE",
		"UIDPLUS", "MOVE", "ESEARCH", "SEARCHRES", "BINARY", "STATUS=SIZE",
		"WITHIN", "SORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "ESORT",
		"CHILDREN", "LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE", "CREATE-SPECIAL-USE", "ACL",
		"RIGHTS=texk", "COMPRESS=DEFLATE", fmt.Sprintf("APPENDLIMIT=%d", s.cfg.MaxLiteralBytes)}
	caps = append(caps, s.quotaCapabilities()...)
	if s.cfg.Appender != nil {
		caps = append(caps, "MULTIAPPEND")
	}
	if s.condstoreOffered() {
		caps = append(caps, "CONDSTORE")
	}
	if s.qresyncOffered() {
		caps = append(caps, "QRESYNC")
	}
	if s.objectIDOffered() {
		caps = append(caps, "OBJECTID", "PREVIEW", "SAVEDATE")
	}
	return strings.Join(caps, " ")
}

func (s *session) loginAllowed() bool {
	return s.tls || s.cfg.AllowPlaintextLogin
}

func (s *session) cmdCapability(cmd *Command) bool {
	if err := cmd.argReader().done(); err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	s.untagged("CAPABILITY %s", s.capabilities())
	s.ok(cmd.Tag, "CAPABILITY completed")
	return true
}

// cmdID answers RFC 2971 ID with the server's name; the client's values
// are only logged.
func (s *session) cmdID(cmd *Command) bool {
	a := cmd.argReader()
	if _, err := a.list(true); err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	s.untagged(`ID ("name" "Rookery")`)
	s.ok(cmd.Tag, "ID completed")
	return true
}

func (s *session) cmdStartTLS(cmd *Command) bool {
	if s.cfg.TLS == nil || s.tls {
		s.tagged(cmd.Tag, "BAD", "STARTTLS not available")
		return true
	}
	if s.br.Buffered() > 0 {
		// Plaintext sent after STARTTLS could be injected by a third party.
		s.tagged(cmd.Tag, "BAD", "data after STARTTLS")
		s.flush()
		return false
	}
	s.ok(cmd.Tag, "begin TLS negotiation now")
	if s.flush() != nil {
		return false
	}
	tc := tls.Server(s.nc, s.cfg.TLS)
	tc.SetDeadline(time.Now().Add(s.cfg.PreAuthTimeout))
	if err := tc.Handshake(); err != nil {
		s.log.Info("TLS handshake failed", "err", err)
		return false
	}
	tc.SetDeadline(time.Time{})
	s.nc = tc
	s.tls = true
	s.br.Reset(tc)
	s.bw.Reset(tc)
	return true
}

func (s *session) cmdLogin(cmd *Command) bool {
	a := cmd.argReader()
	user, err := a.astring()
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	pw, err := a.astring()
	if err == nil {
		err = a.done()
	}
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	return s.login(cmd.Tag, credentials{user: user, pw: pw})
}

// credentials are what a client logs in with: a user and a password, and
// for SASL PLAIN an authorization id, the user to act for when it is not
// the authenticating user.
type credentials struct {
	authz, user, pw string
}

// login checks a password against the local directory and authenticates
// the session. With an authorization id naming another user, the
// authenticating user must be an admin and the session is the other
// user's: every backend connection acts for it.
func (s *session) login(tag string, c credentials) bool {
	if !s.loginAllowed() {
		s.tagged(tag, "NO", "[PRIVACYREQUIRED] LOGIN requires TLS")
		return true
	}
	if !s.srv.waitPenalty(s.addr, c.user, s.done) {
		s.tagged(tag, "NO", "[UNAVAILABLE] server shutting down")
		return true
	}
	authc, err := s.checkPassword(c.user, c.pw)
	if err != nil {
		s.loginFailure(tag, c.user, err)
		return true
	}
	user := authc.Name
	if c.authz != "" {
		target, err := s.authorize(authc, c.authz)
		if err != nil {
			s.srv.loginResult(s.addr, c.user, false)
			s.log.Warn("authorization refused", "login_user", authc.Name, "authz_user", c.authz, "err", err)
			s.tagged(tag, "NO", "[AUTHORIZATIONFAILED] not authorized to act as that user")
			return true
		}
		user = target.Name
	}
	s.srv.loginResult(s.addr, c.user, true)
	if !s.srv.addUserConn(user) {
		s.tagged(tag, "NO", "[LIMIT] too many connections for this user")
		return true
	}
	s.user = user
	s.srv.leavePreAuth(s)
	s.wr.lim = s.cfg.wireLimits(false)
	s.wr.StopAt = isAppendMessage
	s.log = s.log.With("user", user)
	if user != authc.Name {
		s.log = s.log.With("admin", authc.Name)
		s.log.Info("admin logged in as another user")
	}
	s.tagged(tag, "OK", "[CAPABILITY %s] logged in", s.capabilities())
	return true
}

// checkPassword returns the active user that name and pw authenticate.
func (s *session) checkPassword(name, pw string) (*fsm.User, error) {
	user, err := fsm.CanonicalUser(name)
	if err != nil {
		return nil, err
	}
	u, err := s.lookupUser(user)
	if errors.Is(err, fsm.ErrNoUser) {
		u, err = s.provisionUser(user, pw)
	}
	if err != nil {
		return nil, err
	}
	if u.State != fsm.UserActive {
		return nil, ErrBadCredentials
	}
	if ok, err := s.userPassword(user, u, pw); !ok || err != nil {
		return nil, cmp.Or(err, ErrBadCredentials)
	}
	return u, nil
}

// authorize returns the user that authc may act as under the
// authorization id authz: itself, or for an admin any active user.
func (s *session) authorize(authc *fsm.User, authz string) (*fsm.User, error) {
	name, err := fsm.CanonicalUser(authz)
	if err != nil {
		return nil, err
	}
	if name == authc.Name {
		return authc, nil
	}
	u, err := s.lookupUser(name)
	switch {
	case err == nil && u.Name == authc.Name:
		return authc, nil // another name of the same user
	case !authc.Admin:
		return nil, ErrNotAdmin
	case err != nil:
		return nil, err
	}
	if u.State != fsm.UserActive {
		return nil, ErrUserDisabled
	}
	return u, nil
}

// lookupUser reads a user from the local copy, fresh within the staleness
// bound; a user unknown locally may just have been added, so a synced read
// decides. The name is resolved under the directory's mail domains
// (fsm.View.LoginUser: "alice" and "alice@default.example" are one user).
func (s *session) lookupUser(user string) (*fsm.User, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	u, _, err := directory.Find(ctx, s.cfg.Directory, directory.Fresh, func(v *fsm.View) (*fsm.User, bool) {
		return v.LoginUser(user)
	})
	if errors.Is(err, directory.ErrNotFound) {
		return nil, fsm.ErrNoUser
	}
	return u, err
}

func (s *session) loginFailure(tag, user string, err error) {
	if errors.Is(err, ErrPasswordsUnavailable) {
		s.log.Warn("login not checked", "login_user", user, "err", err)
		s.tagged(tag, "NO", "[UNAVAILABLE] cannot check the password now, try again later")
		return
	}
	s.srv.loginResult(s.addr, user, false)
	s.log.Info("login failed", "login_user", user, "err", err)
	s.tagged(tag, "NO", "[AUTHENTICATIONFAILED] invalid credentials")
}

// cmdEnable records UTF8=ACCEPT (the only extension that needs enabling);
// it is replayed on every backend connection the session opens.
func (s *session) cmdEnable(cmd *Command) bool {
	a := cmd.argReader()
	var enabled []string
	for a.pos < a.end {
		ext, err := a.atom()
		if err != nil {
			s.fail(cmd.Tag, err)
			return true
		}
		switch {
		case ext == "UTF8=ACCEPT" && !s.utf8:
			s.utf8 = true
			enabled = append(enabled, ext)
		case ext == "CONDSTORE" && s.condstoreOffered() && !s.cs.on && !slices.Contains(enabled, ext):
			enabled = append(enabled, ext)
		case ext == "QRESYNC" && s.qresyncOffered() && !s.cs.qresync && !slices.Contains(enabled, ext):
			// It implies CONDSTORE (RFC 7162 section 3.2.3).
			enabled = append(enabled, ext)
		}
	}
	if slices.Contains(enabled, "UTF8=ACCEPT") {
		if err := s.enableOnBackends(); err != nil {
			s.fail(cmd.Tag, err)
			return true
		}
	}
	if len(enabled) > 0 {
		s.untagged("ENABLED %s", strings.Join(enabled, " "))
	} else {
		s.untagged("ENABLED")
	}
	if slices.Contains(enabled, "QRESYNC") {
		s.cs.qresync = true
	}
	if slices.Contains(enabled, "CONDSTORE") || slices.Contains(enabled, "QRESYNC") {
		if err := s.enableCondstore(); err != nil {
			s.fail(cmd.Tag, err)
			return true
		}
	}
	s.ok(cmd.Tag, "ENABLE completed")
	return true
}
