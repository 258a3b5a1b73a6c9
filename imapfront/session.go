package imapfront

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// session is one client connection. One goroutine (serve) owns it; only
// shutdown may be called from elsewhere.
type session struct {
	srv  *Server
	cfg  *Config
	log  *slog.Logger
	nc   net.Conn // the client connection, TLS once STARTTLS is done
	raw  net.Conn // the TCP connection under nc; shutdown uses only this
	addr string   // client IP, for failed-login accounting
	br   *bufio.Reader
	bw   *bufio.Writer
	wr   *wireReader
	tls  bool
	// preAuth is set while the Server counts the session as not logged
	// in; guarded by the Server's mu.
	preAuth bool

	user       string // canonical user once authenticated
	utf8       bool   // the client enabled UTF8=ACCEPT
	compressed bool   // COMPRESS=DEFLATE is on
	backends   map[string]*backendConn
	selected   *backendConn // the backend connection with a mailbox selected
	selName    string       // internal name of the selected mailbox
	view       *mboxView    // the client's view of it; non-nil while one is selected
	torn       bool         // a backend response was cut off part way to the client
	status     string       // the last tagged status sent (OK, NO, BAD), for the Observer
	cs         condState    // CONDSTORE (condstore.go)
	// cmdEdit, when set, rewrites the first line of each response the
	// command in progress relays (condstore.go).
	cmdEdit func(line []byte) []byte

	closeOnce sync.Once
	done      chan struct{}
}

func newSession(srv *Server, nc net.Conn) *session {
	s := &session{
		srv:  srv,
		cfg:  &srv.cfg,
		nc:   nc,
		raw:  nc,
		done: make(chan struct{}),
	}
	s.addr, _, _ = net.SplitHostPort(nc.RemoteAddr().String())
	s.log = srv.cfg.Logger.With("client_addr", nc.RemoteAddr().String())
	s.br = bufio.NewReaderSize(nc, 4096)
	s.bw = bufio.NewWriterSize(nc, 4096)
	s.wr = newWireReader(s.br, srv.cfg.wireLimits(true))
	if _, ok := nc.(*tls.Conn); ok {
		s.tls = true
	}
	return s
}

// refuse greets a connection the server will not serve with BYE text and
// closes it.
func (s *session) refuse(text string) {
	s.nc.SetWriteDeadline(time.Now().Add(time.Second))
	s.untagged("%s", text)
	s.bw.Flush()
	s.nc.Close()
}

// shutdown makes serve end soon: the client read fails at once.
func (s *session) shutdown() {
	s.closeOnce.Do(func() { close(s.done) })
	s.raw.SetReadDeadline(time.Now())
}

// setReadDeadline sets the deadline of reads from the client; once the
// session is shutting down, reads fail at once whatever it is asked,
// since shutdown's own deadline may have come before this one.
func (s *session) setReadDeadline(t time.Time) {
	s.nc.SetReadDeadline(t)
	if s.closing() {
		s.raw.SetReadDeadline(time.Now())
	}
}

func (s *session) closing() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *session) serve() {
	defer s.cleanup()
	s.untagged("OK [CAPABILITY %s] Rookery ready", s.capabilities())
	if s.flush() != nil {
		return
	}
	// Before login the whole exchange has one deadline, so that a client
	// cannot hold a connection by sending NOOPs.
	preAuthEnd := time.Now().Add(s.cfg.PreAuthTimeout)
	for !s.closing() {
		deadline := preAuthEnd
		if s.user != "" {
			deadline = time.Now().Add(s.cfg.IdleTimeout)
		}
		s.setReadDeadline(deadline)
		cmd, err := s.wr.ReadCommand(s.continuation)
		if err != nil {
			if !s.readFailed(err) {
				return
			}
			continue
		}
		s.setReadDeadline(time.Time{})
		if !s.observed(cmd) {
			return
		}
		s.forgetReads()
		s.cmdEdit = nil
		s.keepView()
		if s.flush() != nil {
			return
		}
	}
	s.untagged("BYE server shutting down")
	s.flush()
}

// readFailed answers a command that could not be read; false ends the session.
func (s *session) readFailed(err error) bool {
	var we *wireError
	if !errors.As(err, &we) {
		if s.closing() {
			s.untagged("BYE server shutting down")
			s.flush()
		} else if isTimeout(err) {
			s.untagged("BYE autologout; idle for too long")
			s.flush()
		}
		return false
	}
	switch {
	case errors.Is(we.Err, ErrLiteralMinus):
		// RFC 7888 section 4: a LITERAL- server refuses a larger
		// non-synchronizing literal with BAD [TOOBIG].
		s.tagged(we.Tag, "BAD", "[TOOBIG] non-synchronizing literal over %d bytes", literalMinusMax)
	case errors.Is(we.Err, ErrLiteralTooBig):
		s.tagged(we.Tag, "NO", "[TOOBIG] %s", "literal too big")
	default:
		s.tagged(we.Tag, "BAD", "%s", describe(we))
	}
	if we.Fatal {
		s.untagged("BYE too much input")
		s.flush()
		return false
	}
	return s.flush() == nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (s *session) cleanup() {
	for _, bc := range s.backends {
		bc.close()
	}
	if s.user != "" {
		s.srv.dropUserConn(s.user)
	}
	s.nc.Close()
}

// continuation asks the client for a synchronizing literal's data.
func (s *session) continuation() error {
	io.WriteString(s.bw, "+ Ready for literal data\r\n")
	return s.bw.Flush()
}

// observed runs one command through dispatch and tells the Observer its
// name, outcome and time.
func (s *session) observed(cmd *Command) bool {
	o := s.cfg.Observer
	if o == nil {
		return s.dispatch(cmd)
	}
	start := time.Now()
	s.status = ""
	more := s.dispatch(cmd)
	result := strings.ToLower(s.status)
	if result == "" {
		result = "other"
	}
	o.IMAPCommand(cmd.Name, result, time.Since(start))
	return more
}

// dispatch runs one command; false ends the session.
func (s *session) dispatch(cmd *Command) bool {
	if cmd.Pending != nil && cmd.Name != "APPEND" {
		panic("imapfront: pending literal outside APPEND")
	}
	switch cmd.Name {
	case "CAPABILITY":
		return s.cmdCapability(cmd)
	case "NOOP":
		if s.user != "" && s.isSelected() {
			return s.selectedCommand(cmd)
		}
		s.ok(cmd.Tag, "NOOP completed")
		return true
	case "LOGOUT":
		s.untagged("BYE logging out")
		s.ok(cmd.Tag, "LOGOUT completed")
		s.flush()
		return false
	case "ID":
		return s.cmdID(cmd)
	}
	if s.user == "" {
		return s.dispatchPreAuth(cmd)
	}
	if commandText(cmd) > maxRelayedText {
		s.tagged(cmd.Tag, "BAD", "command too long: over %d bytes outside literals", maxRelayedText)
		return true
	}
	cmd.ascii = !s.utf8
	return s.dispatchAuth(cmd)
}

// maxRelayedText bounds a command's bytes outside its literals, over all
// its lines. The backends' IMAP library stops reading a command at 50 KiB
// of them and reads what follows as a new command: a longer one relayed
// would let a client run a command of its own choosing behind the
// frontend. The margin leaves room for what the frontend adds to the
// commands it builds (internal tags, SEARCH RETURN options).
const maxRelayedText = 48 << 10

// commandText is the number of bytes of cmd outside its literals' data.
func commandText(cmd *Command) int {
	n := len(cmd.Raw)
	for _, l := range cmd.Lits {
		n -= int(l.Size)
	}
	return n
}

func (s *session) dispatchPreAuth(cmd *Command) bool {
	switch cmd.Name {
	case "STARTTLS":
		return s.cmdStartTLS(cmd)
	case "LOGIN":
		return s.cmdLogin(cmd)
	case "AUTHENTICATE":
		return s.cmdAuthenticate(cmd)
	}
	s.tagged(cmd.Tag, "BAD", "%s not allowed before authentication", cmd.Name)
	return true
}

func (s *session) dispatchAuth(cmd *Command) bool {
	switch cmd.Name {
	case "ENABLE":
		return s.cmdEnable(cmd)
	case "LIST":
		return s.cmdList(cmd)
	case "LSUB":
		return s.cmdLsub(cmd)
	case "NAMESPACE":
		return s.cmdNamespace(cmd)
	case "SUBSCRIBE", "UNSUBSCRIBE":
		return s.cmdSubscribe(cmd)
	case "CREATE":
		return s.cmdCreate(cmd)
	case "DELETE":
		return s.cmdDelete(cmd)
	case "RENAME":
		return s.cmdRename(cmd)
	case "SETACL", "DELETEACL":
		return s.cmdSetACL(cmd)
	case "GETACL", "MYRIGHTS", "LISTRIGHTS":
		return s.cmdGetACL(cmd)
	case "SELECT", "EXAMINE":
		return s.cmdSelect(cmd)
	case "STATUS":
		return s.cmdStatus(cmd)
	case "APPEND":
		return s.cmdAppend(cmd)
	case "COMPRESS":
		return s.cmdCompress(cmd)
	case "GETQUOTAROOT", "GETQUOTA", "SETQUOTA":
		if s.cfg.Quotas != nil {
			return s.quotaCommand(cmd)
		}
	case "LOGIN", "AUTHENTICATE":
		s.tagged(cmd.Tag, "BAD", "already authenticated")
		return true
	case "STARTTLS":
		s.tagged(cmd.Tag, "BAD", "STARTTLS only before authentication")
		return true
	}
	if !s.isSelected() {
		s.tagged(cmd.Tag, "BAD", "no mailbox selected or unknown command %s", cmd.Name)
		return true
	}
	return s.selectedCommand(cmd)
}

func (s *session) untagged(format string, args ...any) {
	s.bw.WriteString("* ")
	fmt.Fprintf(s.bw, format, args...)
	s.bw.WriteString("\r\n")
}

func (s *session) tagged(tag, status, format string, args ...any) {
	s.status = status
	s.bw.WriteString(tag)
	s.bw.WriteString(" ")
	s.bw.WriteString(status)
	s.bw.WriteString(" ")
	fmt.Fprintf(s.bw, format, args...)
	s.bw.WriteString("\r\n")
}

func (s *session) ok(tag, text string) { s.tagged(tag, "OK", "%s", text) }

func (s *session) flush() error {
	s.nc.SetWriteDeadline(time.Now().Add(s.cfg.IdleTimeout))
	return s.bw.Flush()
}

// ctx bounds one directory call.
func (s *session) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.cfg.DirectoryTimeout)
}
