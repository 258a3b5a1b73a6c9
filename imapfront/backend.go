package imapfront

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/fsm"
)

// backendConn is a session's proxied connection to one backend, logged in
// with the cluster credential as the session's user. A session keeps at
// most one per backend and reuses it for SELECT, STATUS and APPEND.
type backendConn struct {
	id     string
	nc     net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	seq    int
	broken bool
	timout time.Duration
	// view is the client's view of the mailbox selected on this
	// connection, kept up to date from the responses read; nil when the
	// connection has no mailbox of the client's selected.
	view *mboxView
	// torn: the last response read failed part way through, after some of
	// it was passed on.
	torn bool
	// watch, when set, watches the directory while run waits for an
	// answer (see session.watchPlacement).
	watch func() (stop func())
	// edit, when set, rewrites the first line of each response read, if
	// it is whole, before it is passed on (CONDSTORE's MODSEQ).
	edit func(line []byte) []byte
}

// errBackendBye: the backend ended the connection with BYE.
var errBackendBye = errors.New("backend said BYE")

// maxHead bounds the part of a backend response line kept for inspection;
// the rest is streamed.
const maxHead = 1024

// backend returns the session's connection to backend id, dialing and
// logging in when there is none.
func (s *session) backend(id string) (*backendConn, error) {
	if bc := s.backends[id]; bc != nil && !bc.broken {
		return bc, nil
	}
	s.dropBackend(id)
	v, err := s.local()
	if err != nil {
		return nil, err
	}
	b, ok := v.Backend(id)
	// A draining backend still serves the mailboxes it holds until they
	// have moved; only a backend marked down is refused.
	if !ok || b.State == fsm.BackendDown {
		return nil, fmt.Errorf("%w: backend %s is down", ErrBackendDown, id)
	}
	bc, err := dialBackend(s.cfg, id, b.IMAPAddr, s.user)
	if err != nil {
		s.log.Warn("backend connection failed", "backend_id", id, "err", err)
		return nil, err
	}
	if s.utf8 {
		if err := bc.simple("ENABLE UTF8=ACCEPT"); err != nil {
			bc.close()
			return nil, err
		}
	}
	if s.backends == nil {
		s.backends = make(map[string]*backendConn)
	}
	s.backends[id] = bc
	bc.watch = func() func() { return s.watchPlacement(bc, false) }
	return bc, nil
}

// dropBackend closes the connection to backend id. If it served the
// selected mailbox, the selection stays: the next command restores it on
// whatever backend then serves the mailbox.
func (s *session) dropBackend(id string) {
	if bc := s.backends[id]; bc != nil {
		bc.close()
		delete(s.backends, id)
		if s.selected == bc {
			s.selected = nil
		}
	}
}

// enableOnBackends replays ENABLE UTF8=ACCEPT on open backend connections.
func (s *session) enableOnBackends() error {
	for id, bc := range s.backends {
		if err := bc.simple("ENABLE UTF8=ACCEPT"); err != nil {
			s.dropBackend(id)
			return err
		}
	}
	return nil
}

func dialBackend(cfg *Config, id, addr, user string) (*backendConn, error) {
	nc, err := cfg.dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBackendDown, err)
	}
	bc := &backendConn{
		id:     id,
		nc:     nc,
		br:     bufio.NewReaderSize(nc, 4096),
		bw:     bufio.NewWriterSize(nc, 4096),
		timout: cfg.BackendIdleTimeout,
	}
	nc.SetDeadline(time.Now().Add(cfg.BackendTimeout))
	greeting, err := bc.readResponse(io.Discard)
	if err == nil && !bytes.HasPrefix(greeting, []byte("* OK")) {
		err = fmt.Errorf("%w: greeting %q", ErrBackendProtocol, greeting)
	}
	if err == nil {
		ir := base64.StdEncoding.EncodeToString([]byte(user + "\x00" + auth.ProxyUser + "\x00" + cfg.ClusterSecret))
		err = bc.simple("AUTHENTICATE PLAIN " + ir)
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return bc, nil
}

func (bc *backendConn) close() {
	bc.broken = true
	bc.nc.Close()
}

// fail marks the connection unusable after an I/O or protocol error.
func (bc *backendConn) fail(err error) error {
	bc.close()
	if errors.Is(err, ErrBackendProtocol) || errors.Is(err, ErrBackendDown) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrBackendDown, err)
}

func (bc *backendConn) nextTag() string {
	bc.seq++
	return "rk" + strconv.Itoa(bc.seq)
}

// simple runs an internal command that must succeed, discarding its
// untagged responses.
func (bc *backendConn) simple(text string) error {
	tagged, err := bc.run(text, func([]byte) error { return nil })
	if err != nil {
		return err
	}
	if status(tagged) != "OK" {
		return fmt.Errorf("%w: %s: %q", ErrBackendProtocol, text, tagged)
	}
	return nil
}

// run sends an internal command and hands each untagged response, read
// whole, to untagged. It returns the tagged response line.
func (bc *backendConn) run(text string, untagged func([]byte) error) ([]byte, error) {
	tag, err := bc.start(text)
	if err != nil {
		return nil, err
	}
	return bc.collect(tag, untagged)
}

// start sends an internal command and returns its tag, for collect.
func (bc *backendConn) start(text string) (tag string, err error) {
	tag = bc.nextTag()
	bc.nc.SetDeadline(time.Now().Add(bc.timout))
	defer bc.nc.SetDeadline(time.Time{})
	bc.bw.WriteString(tag + " " + text + "\r\n")
	if err := bc.bw.Flush(); err != nil {
		return "", bc.fail(err)
	}
	return tag, nil
}

// collect reads the responses to the internal command tagged tag, which
// has been sent, handing each untagged one, read whole, to untagged. It
// returns the tagged response line.
func (bc *backendConn) collect(tag string, untagged func([]byte) error) ([]byte, error) {
	bc.nc.SetDeadline(time.Now().Add(bc.timout))
	defer bc.nc.SetDeadline(time.Time{})
	if bc.watch != nil {
		stop := bc.watch()
		defer stop()
	}
	for {
		var buf bytes.Buffer
		head, err := bc.readResponse(&buf)
		if err != nil {
			return nil, bc.fail(err)
		}
		if isTagged(head, tag) {
			return head, nil
		}
		if isBye(head) {
			return nil, bc.fail(errBackendBye)
		}
		if err := untagged(buf.Bytes()); err != nil {
			return nil, err
		}
	}
}

// readResponse reads one complete response (its lines and the literals
// they announce), streaming it to w, and returns the start of its first
// line without CRLF.
func (bc *backendConn) readResponse(w io.Writer) ([]byte, error) {
	bc.torn = false
	tail, head, err := bc.copyLine(w, true)
	if err != nil {
		return nil, err
	}
	bc.observe(head)
	if err := bc.readRest(w, tail); err != nil {
		bc.torn = true
		return nil, err
	}
	return head, nil
}

// observe keeps the client's view in step with a response the backend
// sent to the selected mailbox's session.
func (bc *backendConn) observe(head []byte) {
	if bc.view != nil {
		bc.view.track(head)
	}
}

// byeNext reports whether the next response is an untagged BYE. Every
// response is at least five bytes long, so the Peek cannot hang on one.
func (bc *backendConn) byeNext() bool {
	b, _ := bc.br.Peek(5)
	return isBye(b)
}

// readRest streams the rest of a response whose last line read ended with
// tail: the literal it announces, the next line, and so on.
func (bc *backendConn) readRest(w io.Writer, tail []byte) error {
	for {
		lit := literalSuffix(tail)
		if lit == nil {
			return nil
		}
		if _, err := io.CopyN(w, bc.br, lit.Size); err != nil {
			return err
		}
		var err error
		if tail, _, err = bc.copyLine(w, false); err != nil {
			return err
		}
	}
}

// copyLine copies one CRLF-ended line to w; it keeps the line's tail (to
// spot a literal) and, for a first line, its head. A line reaches w whole
// (up to maxHeldLine, beyond which it streams), so a backend that dies
// part way through a line leaves the client at a line boundary, where the
// session can go on with another backend; only a line already partly sent
// tears the client's stream.
func (bc *backendConn) copyLine(w io.Writer, keepHead bool) (tail, head []byte, err error) {
	var held []byte
	sent := false
	for {
		chunk, rerr := bc.br.ReadSlice('\n')
		out := chunk
		if rerr != nil || len(held) > 0 {
			held = append(held, chunk...)
			out = held
		}
		if rerr == nil || len(held) >= maxHeldLine {
			if keepHead && rerr == nil && !sent && bc.edit != nil {
				out = bc.edit(out)
			}
			if _, err := w.Write(out); err != nil {
				bc.torn = true
				return nil, nil, err
			}
			sent, held = true, held[:0]
		}
		if keepHead && len(head) < maxHead {
			head = append(head, chunk[:min(len(chunk), maxHead-len(head))]...)
		}
		tail = append(tail, chunk...)
		if len(tail) > 64 {
			tail = append(tail[:0], tail[len(tail)-64:]...)
		}
		if rerr == nil {
			return tail, bytes.TrimSuffix(head, []byte("\r\n")), nil
		}
		if !errors.Is(rerr, bufio.ErrBufferFull) {
			bc.torn = bc.torn || sent
			return nil, nil, rerr
		}
	}
}

// maxHeldLine bounds the part of a response line held back until the line
// is whole.
const maxHeldLine = 256 << 10

func isTagged(head []byte, tag string) bool {
	return len(head) > len(tag) && string(head[:len(tag)]) == tag && head[len(tag)] == ' '
}

// status is the status word of a tagged response line ("OK", "NO", "BAD").
func status(line []byte) string {
	_, rest, _ := bytes.Cut(line, []byte(" "))
	st, _, _ := bytes.Cut(rest, []byte(" "))
	return string(st)
}
