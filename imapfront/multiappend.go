package imapfront

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/multiappend"
)

// MULTIAPPEND (RFC 3502): an APPEND with several messages stores all of
// them or none. The backends' IMAP library takes one message per APPEND,
// so the frontend sends such an APPEND's messages to the mailbox's
// primary over the cluster API (Config.Appender), one stream, which the
// backend's spool stores in one commit once the stream has ended whole.
//
// Whether an APPEND has a second message is known only once the first
// has been read: the first streams to the backend's IMAP session as a
// single APPEND would, its last byte held back (append.go), and a copy of
// it is kept as it passes (appendCopy). When a second message follows,
// that backend connection is dropped, so the single APPEND stores
// nothing, and the copy leads the stream to the API.

// Appender stores the messages of one MULTIAPPEND on the backend whose
// node's cluster API is at apiAddr (multiappend.Remote).
type Appender interface {
	Append(ctx context.Context, apiAddr string, mailbox uint64, body io.Reader) (multiappend.Reply, error)
}

// appendCopyMemory is how much of a first message's copy is kept in
// memory; the rest goes to an unlinked temporary file.
const appendCopyMemory = 256 << 10

// appendCopy keeps a copy of an APPEND's first message as it streams.
type appendCopy struct {
	mem  []byte
	file *os.File
	err  error
}

func newAppendCopy(size int64) *appendCopy {
	return &appendCopy{mem: make([]byte, 0, min(size, appendCopyMemory))}
}

// Write keeps p; it never fails, so that the stream to the backend goes
// on: a copy that could not be kept fails the MULTIAPPEND, if one comes.
func (c *appendCopy) Write(p []byte) (int, error) {
	n := len(p)
	if room := appendCopyMemory - len(c.mem); room > 0 {
		k := min(room, len(p))
		c.mem = append(c.mem, p[:k]...)
		p = p[k:]
	}
	if len(p) == 0 || c.err != nil {
		return n, nil
	}
	if c.file == nil {
		if c.file, c.err = os.CreateTemp("", "rookery-append-*"); c.err != nil {
			return n, nil
		}
		os.Remove(c.file.Name()) // gone with the session, whatever happens
	}
	if _, err := c.file.Write(p); err != nil {
		c.err = err
	}
	return n, nil
}

// reader reads the copy from its start.
func (c *appendCopy) reader() (io.Reader, error) {
	if c.err != nil {
		return nil, c.err
	}
	if c.file == nil {
		return strings.NewReader(string(c.mem)), nil
	}
	if _, err := c.file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.MultiReader(strings.NewReader(string(c.mem)), c.file), nil
}

func (c *appendCopy) close() {
	if c != nil && c.file != nil {
		c.file.Close()
	}
}

// appendOptions reads a message's optional flag list and date-time, up
// to the space before its literal.
func appendOptions(a *argReader) (flags []string, date time.Time, err error) {
	if a.pos+1 < a.end && a.cmd.Raw[a.pos] == ' ' && a.cmd.Raw[a.pos+1] == '(' {
		if flags, err = a.list(false); err != nil {
			return nil, time.Time{}, err
		}
	}
	if a.pos+1 < a.end && a.cmd.Raw[a.pos] == ' ' && a.cmd.Raw[a.pos+1] == '"' {
		d, err := a.astring()
		if err != nil {
			return nil, time.Time{}, err
		}
		if date, err = time.Parse(appendDateTimeLayout, d); err != nil {
			return nil, time.Time{}, fmt.Errorf("%w: invalid date-time %q", ErrSyntax, d)
		}
	}
	return flags, date, nil
}

// multiAppend stores the messages of cmd, whose first (its header first,
// the copy of its body, then last, its held-back byte) has been read and
// whose second is pending, in m. from is where the first's literal ends
// in cmd.Raw.
func (s *session) multiAppend(cmd *Command, m *fsm.Mailbox, first multiappend.Header, copied *appendCopy, last []byte, from int) bool {
	if s.cfg.Appender == nil {
		s.tagged(cmd.Tag, "BAD", "one message per APPEND: MULTIAPPEND is not offered")
		return s.discardAppend(cmd)
	}
	addr, err := s.apiAddr(m.Primary.Backend)
	if err != nil {
		s.fail(cmd.Tag, err)
		return s.discardAppend(cmd)
	}
	body, err := copied.reader()
	if err != nil {
		s.log.Warn("MULTIAPPEND: the first message's copy", "err", err)
		s.tagged(cmd.Tag, "NO", "[UNAVAILABLE] cannot hold the messages now; try again")
		return s.discardAppend(cmd)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	type result struct {
		r   multiappend.Reply
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := s.cfg.Appender.Append(ctx, addr, m.ID, pr)
		pr.CloseWithError(err) // a refusal before the end stops the writes
		done <- result{r, err}
	}()
	// abort ends the stream short, so that the backend stores nothing,
	// and waits for the call to end.
	abort := func(err error) {
		pw.CloseWithError(err)
		cancel()
		<-done
	}
	// The backend may refuse part way (a message too big, the quota):
	// the sink then swallows the rest of the message being read, and the
	// command ends with the backend's answer.
	sink := &appendSink{w: pw}
	multiappend.WriteHeader(sink, first)
	io.Copy(sink, body)
	sink.Write(last)
	for count := 1; cmd.Pending != nil && sink.err == nil; count++ {
		lit := cmd.Pending
		a := &argReader{cmd: cmd, pos: from, end: lit.Marker}
		var h multiappend.Header
		var err error
		h.Flags, h.Date, err = appendOptions(a)
		if err == nil && string(cmd.Raw[a.pos:lit.Marker]) != " " {
			err = fmt.Errorf("%w: expected a message literal", ErrSyntax)
		}
		if err == nil && count == multiappend.MaxMessages {
			err = fmt.Errorf("%w: at most %d messages in one APPEND", ErrLimit, multiappend.MaxMessages)
		}
		if err == nil && lit.Size > s.cfg.MaxLiteralBytes {
			abort(ErrLimit)
			s.tagged(cmd.Tag, "NO", "[TOOBIG] message %d is over %d bytes; nothing stored", count+1, s.cfg.MaxLiteralBytes)
			return s.discardAppend(cmd)
		}
		if err != nil {
			abort(err)
			s.fail(cmd.Tag, err)
			return s.discardAppend(cmd)
		}
		if lit.Sync && s.continuation() != nil {
			abort(io.ErrUnexpectedEOF)
			return false
		}
		h.Size = lit.Size
		s.setReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		multiappend.WriteHeader(sink, h)
		if _, err := io.CopyN(sink, s.br, lit.Size); err != nil {
			// The client went away or stalled mid-message: nothing is
			// stored, and its stream cannot be read on.
			abort(err)
			s.untagged("BYE APPEND failed while reading a message")
			s.flush()
			return false
		}
		from = len(cmd.Raw)
		if err := s.wr.Continue(cmd, s.continuation); err != nil {
			abort(err)
			return s.continueFailed(cmd, err)
		}
		s.setReadDeadline(time.Time{})
	}
	if sink.err == nil {
		a := &argReader{cmd: cmd, pos: from, end: len(cmd.Raw) - 2}
		if err := a.done(); err != nil {
			abort(err)
			s.fail(cmd.Tag, err)
			return true
		}
		multiappend.WriteHeader(sink, multiappend.Header{End: true})
	}
	pw.Close()
	res := <-done
	if res.err != nil {
		s.failMultiAppend(cmd.Tag, res.err)
		if cmd.Pending != nil {
			return s.discardAppend(cmd)
		}
		return true
	}
	if s.isSelected() && s.view.id == m.ID {
		// The new messages' EXISTS before the OK (RFC 3501 section
		// 6.3.11's SHOULD). The first message's backend connection was
		// dropped, the selected one if the mailbox is on its backend:
		// selecting it again tells of them; else the backend's session
		// tells of them at its next command. A failure of that command
		// shows at the client's next.
		if s.selected == nil {
			if _, ok := s.selectedReady(); !ok {
				return false
			}
		} else {
			tag := s.selected.nextTag()
			s.forwardHold(s.selected, &Command{Tag: tag, Name: "NOOP", Raw: []byte(tag + " NOOP\r\n")})
		}
	}
	uids := make([]string, len(res.r.UIDs))
	for i, u := range res.r.UIDs {
		uids[i] = strconv.FormatUint(uint64(u), 10)
	}
	s.tagged(cmd.Tag, "OK", "[APPENDUID %d %s] APPEND completed", res.r.UIDValidity, strings.Join(uids, ","))
	return true
}

// appendSink writes to w until a write fails, and swallows the rest.
type appendSink struct {
	w   io.Writer
	err error
}

func (k *appendSink) Write(p []byte) (int, error) {
	if k.err == nil {
		_, k.err = k.w.Write(p)
	}
	return len(p), nil
}

// failMultiAppend answers a MULTIAPPEND the backend did not store.
func (s *session) failMultiAppend(tag string, err error) {
	switch {
	case errors.Is(err, multiappend.ErrNoMailbox):
		s.tagged(tag, "NO", "[TRYCREATE] no such mailbox")
	case errors.Is(err, multiappend.ErrInvalid):
		s.tagged(tag, "BAD", "[CLIENTBUG] invalid message or flag; nothing stored")
	case errors.Is(err, multiappend.ErrTooBig):
		s.tagged(tag, "NO", "[TOOBIG] a message is too big; nothing stored")
	case errors.Is(err, multiappend.ErrOverQuota):
		s.tagged(tag, "NO", "[OVERQUOTA] quota exceeded; nothing stored")
	case errors.Is(err, multiappend.ErrNotPrimary), errors.Is(err, multiappend.ErrUnavailable):
		s.tagged(tag, "NO", "[UNAVAILABLE] mailbox is being changed; nothing stored, try again")
	default:
		// The backend may have gone between its commit and its reply:
		// the outcome is unknown, as with a single APPEND.
		s.log.Warn("MULTIAPPEND failed", "err", err)
		s.tagged(tag, "NO", "[UNAVAILABLE] backend unreachable; try again")
	}
}

// discardAppend skips what is left of an APPEND answered already.
func (s *session) discardAppend(cmd *Command) bool {
	if s.wr.Discard(cmd) != nil {
		s.untagged("BYE too much input")
		return false
	}
	return true
}
