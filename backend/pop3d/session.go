package pop3d

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// session is one POP3 connection, owned by the goroutine running serve.
// It is in the AUTHORIZATION state until drop is set, then in the
// TRANSACTION state; QUIT there enters UPDATE.
type session struct {
	srv  *Server
	log  *slog.Logger
	nc   net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	user string // the USER command's argument, before PASS
	drop *maildrop
}

func newSession(srv *Server, nc net.Conn) *session {
	return &session{
		srv: srv,
		log: srv.log.With("remote_addr", nc.RemoteAddr().String()),
		nc:  nc,
		br:  bufio.NewReaderSize(nc, maxLine),
		bw:  bufio.NewWriterSize(nc, 32<<10),
	}
}

func (s *session) serve() {
	s.ok("Rookery POP3 backend ready")
	for s.bw.Flush() == nil {
		s.nc.SetReadDeadline(time.Now().Add(s.srv.cfg.IdleTimeout))
		line, err := s.readLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		if !s.command(strings.ToUpper(verb), arg) {
			s.bw.Flush()
			return
		}
	}
}

// readLine reads one command line without its CRLF. A line longer than
// maxLine ends the session: the client is not speaking POP3.
func (s *session) readLine() (string, error) {
	b, err := s.br.ReadSlice('\n')
	if err != nil {
		return "", err
	}
	return string(bytes.TrimRight(b, "\r\n")), nil
}

// command runs one command; false ends the session.
func (s *session) command(verb, arg string) bool {
	if s.drop == nil {
		return s.authCommand(verb, arg)
	}
	return s.dropCommand(verb, arg)
}

func (s *session) ok(format string, args ...any) {
	fmt.Fprintf(s.bw, "+OK "+format+"\r\n", args...)
}

func (s *session) err(format string, args ...any) {
	fmt.Fprintf(s.bw, "-ERR "+format+"\r\n", args...)
}

// capa answers RFC 2449 CAPA for the current state.
func (s *session) capa() {
	s.ok("capability list follows")
	caps := []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "IMPLEMENTATION Rookery"}
	if s.drop == nil {
		caps = append(caps, "USER", "SASL PLAIN")
	}
	for _, c := range caps {
		s.bw.WriteString(c + "\r\n")
	}
	s.bw.WriteString(".\r\n")
}

// ctx bounds the directory and store calls of one command.
func (s *session) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.srv.cfg.DirectoryTimeout)
}

func (s *session) authCommand(verb, arg string) bool {
	switch verb {
	case "CAPA":
		s.capa()
	case "QUIT":
		s.ok("bye")
		return false
	case "USER":
		s.user = arg
		s.ok("send PASS")
	case "PASS":
		user := s.user
		s.user = ""
		if user == "" {
			s.err("USER first")
			return true
		}
		s.login(user, "", arg)
	case "AUTH":
		return s.auth(arg)
	default:
		s.err("unknown command in AUTHORIZATION state")
	}
	return true
}

// auth is RFC 5034 AUTH PLAIN, with or without an initial response.
func (s *session) auth(arg string) bool {
	mech, ir, hasIR := strings.Cut(arg, " ")
	if !strings.EqualFold(mech, "PLAIN") {
		s.err("unsupported SASL mechanism")
		return true
	}
	if !hasIR {
		s.bw.WriteString("+ \r\n")
		if s.bw.Flush() != nil {
			return false
		}
		line, err := s.readLine()
		if err != nil {
			return false
		}
		ir = line
	}
	if ir == "*" {
		s.err("authentication cancelled")
		return true
	}
	raw, err := base64.StdEncoding.DecodeString(ir)
	parts := bytes.Split(raw, []byte{0})
	if err != nil || len(parts) != 3 {
		s.err("malformed SASL PLAIN response")
		return true
	}
	s.login(string(parts[1]), string(parts[0]), string(parts[2]))
	return true
}

// login checks the credentials and opens the user's INBOX. The cluster's
// proxy identity with the cluster secret may act for any active user;
// anyone else only for themselves.
func (s *session) login(authc, authz, password string) {
	user, err := s.authenticate(authc, authz, password)
	if err != nil {
		s.log.Info("login failed", "login_user", authc, "err", err)
		s.reply(err)
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	d, err := s.open(ctx, user)
	if err != nil {
		s.reply(err)
		return
	}
	s.drop = d
	s.log = s.log.With("user", user)
	s.ok("%s has %d messages (%d octets)", user, len(d.msgs), d.size())
}

func (s *session) authenticate(authc, authz, password string) (string, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	if authc == auth.ProxyUser {
		if !auth.CheckSecret(s.srv.cfg.ClusterSecret, password) {
			s.log.Warn("proxy login with a wrong secret")
			return "", ErrAuth
		}
		user, err := fsm.CanonicalUser(authz)
		if err != nil {
			return "", ErrAuth
		}
		if _, err := s.lookupUser(ctx, user); err != nil {
			return "", err
		}
		return user, nil
	}
	user, err := fsm.CanonicalUser(authc)
	if err != nil {
		return "", ErrAuth
	}
	rec, err := s.lookupUser(ctx, user)
	if err != nil {
		return "", err
	}
	if !auth.CheckPassword(rec.PasswordHash, password) {
		return "", ErrAuth
	}
	if authz != "" {
		if as, err := fsm.CanonicalUser(authz); err != nil || as != user {
			return "", ErrAuth
		}
	}
	return user, nil
}

// lookupUser finds an active user, with a synced read before it says no.
func (s *session) lookupUser(ctx context.Context, user string) (*fsm.User, error) {
	rec, _, err := directory.Find(ctx, s.srv.cfg.Directory, directory.Local, func(v *fsm.View) (*fsm.User, bool) {
		return v.User(user)
	})
	switch {
	case err != nil && !errors.Is(err, directory.ErrNotFound):
		return nil, fmt.Errorf("%w: %w", ErrDirectory, err)
	case rec == nil || rec.State != fsm.UserActive:
		return nil, ErrAuth
	}
	return rec, nil
}
