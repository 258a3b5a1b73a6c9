package pop3front

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"
)

// session is one client connection in the AUTHORIZATION state, which the
// frontend answers itself; once logged in it becomes a pipe to the
// backend (proxy.go).
type session struct {
	srv  *Server
	cfg  *Config
	log  *slog.Logger
	nc   net.Conn // the client connection, TLS once STLS is done
	addr string   // client IP, for failed-login accounting
	br   *bufio.Reader
	bw   *bufio.Writer
	tls  bool
	user string // the USER command's argument, before PASS
}

// maxLine bounds a command line: RFC 2449 allows 255 octets, a SASL
// response a little more.
const maxLine = 4096

func newSession(srv *Server, nc net.Conn) *session {
	s := &session{
		srv: srv,
		cfg: &srv.cfg,
		nc:  nc,
		log: srv.log.With("client_addr", nc.RemoteAddr().String()),
		br:  bufio.NewReaderSize(nc, maxLine),
		bw:  bufio.NewWriterSize(nc, 4096),
	}
	s.addr, _, _ = net.SplitHostPort(nc.RemoteAddr().String())
	if _, ok := nc.(*tls.Conn); ok {
		s.tls = true
	}
	return s
}

func (s *session) serve() {
	s.ok("Rookery POP3 ready")
	for s.bw.Flush() == nil {
		s.nc.SetReadDeadline(time.Now().Add(s.cfg.PreAuthTimeout))
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

func (s *session) readLine() (string, error) {
	b, err := s.br.ReadSlice('\n')
	if err != nil {
		return "", err
	}
	return string(bytes.TrimRight(b, "\r\n")), nil
}

func (s *session) ok(format string, args ...any) {
	fmt.Fprintf(s.bw, "+OK "+format+"\r\n", args...)
}

func (s *session) err(format string, args ...any) {
	fmt.Fprintf(s.bw, "-ERR "+format+"\r\n", args...)
}

func (s *session) loginAllowed() bool {
	return s.tls || s.cfg.AllowPlaintextLogin
}

// command runs one AUTHORIZATION-state command; false ends the session,
// whether by QUIT or because a login made it a pipe that has now ended.
func (s *session) command(verb, arg string) bool {
	switch verb {
	case "CAPA":
		s.capa()
	case "STLS":
		return s.startTLS()
	case "QUIT":
		s.ok("bye")
		return false
	case "USER":
		if !s.loginAllowed() {
			s.err("[AUTH] USER needs TLS; use STLS")
			return true
		}
		s.user = arg
		s.ok("send PASS")
	case "PASS":
		user := s.user
		s.user = ""
		if user == "" {
			s.err("USER first")
			return true
		}
		return s.login("", user, arg)
	case "AUTH":
		return s.auth(arg)
	default:
		s.err("unknown command in AUTHORIZATION state")
	}
	return true
}

// capa answers RFC 2449 CAPA. After login the backend answers it.
func (s *session) capa() {
	s.ok("capability list follows")
	caps := []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "IMPLEMENTATION Rookery"}
	if s.cfg.TLS != nil && !s.tls {
		caps = append(caps, "STLS")
	}
	if s.loginAllowed() {
		caps = append(caps, "USER", "SASL PLAIN")
	}
	for _, c := range caps {
		s.bw.WriteString(c + "\r\n")
	}
	s.bw.WriteString(".\r\n")
}

// startTLS is RFC 2595 STLS.
func (s *session) startTLS() bool {
	if s.cfg.TLS == nil || s.tls {
		s.err("STLS not available")
		return true
	}
	if s.br.Buffered() > 0 {
		// Plaintext sent after STLS could be injected by a third party.
		s.err("data after STLS")
		return false
	}
	s.ok("begin TLS negotiation")
	if s.bw.Flush() != nil {
		return false
	}
	tc := tls.Server(s.nc, s.cfg.TLS)
	tc.SetDeadline(time.Now().Add(s.cfg.PreAuthTimeout))
	if err := tc.Handshake(); err != nil {
		s.log.Info("TLS handshake failed", "err", err)
		return false
	}
	tc.SetDeadline(time.Time{})
	s.nc, s.tls = tc, true
	s.br.Reset(tc)
	s.bw.Reset(tc)
	return true
}

// auth is RFC 5034 AUTH PLAIN, with or without an initial response; an
// authorization id lets an admin act for another user, as in IMAP.
func (s *session) auth(arg string) bool {
	mech, ir, hasIR := strings.Cut(arg, " ")
	if !strings.EqualFold(mech, "PLAIN") {
		s.err("unsupported SASL mechanism")
		return true
	}
	if !s.loginAllowed() {
		s.err("[AUTH] AUTH needs TLS; use STLS")
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
	return s.login(string(parts[0]), string(parts[1]), string(parts[2]))
}

// login authenticates through the IMAP frontend's login path and, on
// success, joins the client to the backend of the user's INBOX for the
// rest of the session.
func (s *session) login(authz, user, password string) bool {
	if !s.loginAllowed() {
		s.err("[AUTH] login needs TLS; use STLS")
		return true
	}
	as, release, err := s.cfg.Authenticator.Login(s.addr, authz, user, password)
	if err != nil {
		s.log.Info("login failed", "login_user", user, "err", err)
		s.reply(err)
		return true
	}
	defer release()
	s.log = s.log.With("user", as)
	bc, greeting, err := s.openBackend(as)
	if err != nil {
		s.log.Warn("no backend session", "err", err)
		s.reply(err)
		return true
	}
	s.bw.WriteString(greeting)
	if s.bw.Flush() != nil {
		bc.Close()
		return false
	}
	s.pipe(bc)
	return false
}
