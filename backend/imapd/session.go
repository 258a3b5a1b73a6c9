package imapd

import (
	"context"
	"errors"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-sasl"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// session is one IMAP connection. go-imap calls its methods one command at
// a time, except Idle, which runs while no other command can.
type session struct {
	srv  *Server
	conn *imapserver.Conn
	user string // canonical user name once logged in
	sel  *selection

	selected selectedID // sel's mailbox id, for the placement check
	byeSent  bool       // guarded by Server.mu
}

var (
	_ imapserver.SessionIMAP4rev2   = (*session)(nil)
	_ imapserver.SessionSASL        = (*session)(nil)
	_ imapserver.SessionAppendLimit = (*session)(nil)
)

func newSession(srv *Server, conn *imapserver.Conn) *session {
	return &session{srv: srv, conn: conn}
}

// Close is called when the connection ends. go-imap may call it while an
// IDLE of the same session is still returning (the connection closed under
// it), so it releases the selection without clearing s.sel, which that
// IDLE may be reading: the session is over, nothing reads it after.
func (s *session) Close() error {
	s.srv.removeSession(s)
	if s.sel != nil {
		s.release(s.sel)
	}
	return nil
}

// ctx bounds the directory and store calls of one command.
func (s *session) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.srv.cfg.DirectoryTimeout)
}

// Login is LOGIN: a user with their own password. The proxy identity cannot
// use it: a frontend must name the user it acts for (AUTHENTICATE PLAIN).
func (s *session) Login(username, password string) error {
	user, err := s.checkPassword(username, password)
	if err != nil {
		return err
	}
	s.loggedIn(user, "password")
	return nil
}

func (s *session) loggedIn(user, how string) {
	s.user = user
	s.srv.log.Debug("login", "user", user, "method", how, "remote_addr", s.conn.NetConn().RemoteAddr().String())
}

// checkPassword returns the canonical user if password is theirs. Every
// failure looks the same to the client.
func (s *session) checkPassword(username, password string) (string, error) {
	user, err := fsm.CanonicalUser(username)
	if err != nil {
		return "", imapserver.ErrAuthFailed
	}
	ctx, cancel := s.ctx()
	defer cancel()
	rec, err := s.lookupUser(ctx, user)
	if err != nil || !auth.CheckPassword(rec.PasswordHash, password) {
		return "", imapserver.ErrAuthFailed
	}
	return user, nil
}

// lookupUser finds an active user, with a synced read before it says no.
func (s *session) lookupUser(ctx context.Context, user string) (*fsm.User, error) {
	rec, _, err := directory.Find(ctx, s.srv.cfg.Directory, directory.Local, func(v *fsm.View) (*fsm.User, bool) {
		return v.User(user)
	})
	if err != nil && !errors.Is(err, directory.ErrNotFound) {
		return nil, err
	}
	if rec == nil || rec.State != fsm.UserActive {
		return nil, ErrNoSuchUser
	}
	return rec, nil
}

// AuthenticateMechanisms offers PLAIN only: it carries the authorization
// id that proxy login needs.
func (s *session) AuthenticateMechanisms() []string {
	return []string{sasl.Plain}
}

func (s *session) Authenticate(mech string) (sasl.Server, error) {
	if !strings.EqualFold(mech, sasl.Plain) {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Unsupported SASL mechanism"}
	}
	return sasl.NewPlainServer(s.authenticatePlain), nil
}

var errAuthzFailed = &imap.Error{
	Type: imap.StatusResponseTypeNo,
	Code: imap.ResponseCodeAuthorizationFailed,
	Text: "Not authorized to act as that user",
}

// authenticatePlain checks SASL PLAIN credentials. The cluster's proxy
// identity with the cluster secret may act for any active user; anyone
// else only for themselves.
func (s *session) authenticatePlain(authzID, authcID, password string) error {
	if authcID == auth.ProxyUser {
		if !auth.CheckSecret(s.srv.cfg.ClusterSecret, password) {
			s.srv.log.Warn("proxy login with a wrong secret", "remote_addr", s.conn.NetConn().RemoteAddr().String())
			return imapserver.ErrAuthFailed
		}
		user, err := fsm.CanonicalUser(authzID)
		if err != nil {
			return errAuthzFailed
		}
		ctx, cancel := s.ctx()
		defer cancel()
		if _, err := s.lookupUser(ctx, user); err != nil {
			if errors.Is(err, ErrNoSuchUser) {
				return errAuthzFailed
			}
			return s.imapError(err)
		}
		s.loggedIn(user, "proxy")
		return nil
	}
	user, err := s.checkPassword(authcID, password)
	if err != nil {
		return err
	}
	if authzID != "" {
		if as, err := fsm.CanonicalUser(authzID); err != nil || as != user {
			return errAuthzFailed
		}
	}
	s.loggedIn(user, "plain")
	return nil
}

// AppendLimit is advertised as APPENDLIMIT and enforced by go-imap before
// the literal is read.
func (s *session) AppendLimit() uint32 {
	return uint32(s.srv.cfg.MaxMessageBytes)
}

// Namespace is RFC 2342 as fsm.Internal and fsm.External define it.
func (s *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{
		Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: fsm.Separator}},
		Other:    []imap.NamespaceDescriptor{{Prefix: fsm.OtherUsersPrefix + string(fsm.Separator), Delim: fsm.Separator}},
		Shared:   []imap.NamespaceDescriptor{{Prefix: fsm.SharedPrefix + string(fsm.Separator), Delim: fsm.Separator}},
	}, nil
}
