package imapfront

import (
	"errors"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/multiappend"
)

// APPEND goes to the named mailbox's primary backend. The message literal
// is streamed from the client to the backend, never held whole: the
// frontend announces it to the backend as a synchronizing literal and
// passes the backend's continuation (or refusal, such as [TOOBIG]) on to
// the client.

func (s *session) cmdAppend(cmd *Command) bool {
	m, err := s.appendTarget(cmd)
	var bc *backendConn
	if err == nil {
		bc, err = s.backend(m.Primary.Backend)
	}
	if err != nil {
		return s.refuseAppend(cmd, err)
	}
	lit := cmd.Pending
	if lit == nil {
		// No message literal: the backend will say BAD.
		if _, err := s.forward(bc, cmd); err != nil {
			return s.backendLost(cmd.Tag, bc, err)
		}
		return true
	}
	bc.nc.SetDeadline(time.Now().Add(bc.timout))
	bc.bw.Write(cmd.Raw[:lit.Marker])
	if lit.Binary {
		bc.bw.WriteByte('~')
	}
	bc.bw.WriteString("{" + strconv.FormatInt(lit.Size, 10) + "}\r\n")
	stop := s.watchPlacement(bc, false)
	rejected, err := s.awaitContinuation(bc, cmd.Tag)
	stop()
	if err != nil || rejected != nil {
		if err == nil {
			s.bw.Write(rejected)
			s.bw.WriteString("\r\n")
		} else {
			s.fail(cmd.Tag, err)
			s.dropBackend(bc.id)
		}
		return s.wr.Discard(cmd) == nil
	}
	return s.streamAppend(cmd, bc, m)
}

// streamAppend copies the message from client to backend, then the rest of
// the command, and relays the backend's answer (with APPENDUID).
func (s *session) streamAppend(cmd *Command, bc *backendConn, m *fsm.Mailbox) bool {
	lit := cmd.Pending
	from := len(cmd.Raw) // the streamed literal takes no room in Raw
	if lit.Sync {
		if s.continuation() != nil {
			bc.close()
			return false
		}
	}
	s.setReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
	// The message's last byte is held back until the rest of the command
	// has been read: the backend stores a message once it has all of it,
	// so a command that turns out to be one it must not run (a second
	// message: MULTIAPPEND) is dropped with the backend connection before
	// anything is stored, and a copy is kept for that case (multiappend.go).
	held := min(lit.Size, 1)
	var last [1]byte
	var copied *appendCopy
	var first multiappend.Header
	var firstErr error
	to := io.Writer(bc.bw)
	if s.cfg.Appender != nil {
		first, firstErr = firstAppendHeader(cmd)
		copied = newAppendCopy(lit.Size)
		defer copied.close()
		to = io.MultiWriter(bc.bw, copied)
	}
	_, err := io.CopyN(to, s.br, lit.Size-held)
	if err == nil {
		_, err = io.ReadFull(s.br, last[:held])
	}
	if err != nil {
		// Either side failed mid-message; neither stream can be resynchronised.
		s.dropBackend(bc.id)
		s.untagged("BYE APPEND failed while streaming the message")
		s.flush()
		return false
	}
	if err := s.wr.Continue(cmd, s.continuation); err != nil {
		s.dropBackend(bc.id)
		return s.continueFailed(cmd, err)
	}
	s.setReadDeadline(time.Time{})
	if cmd.Pending != nil {
		// A second message (the reader stops at it as at the first):
		// RFC 3502 makes the messages of one APPEND all or none, so the
		// single APPEND under way stores nothing.
		s.dropBackend(bc.id)
		if firstErr != nil {
			s.fail(cmd.Tag, firstErr)
			return s.discardAppend(cmd)
		}
		return s.multiAppend(cmd, m, first, copied, last[:held], from)
	}
	if slices.ContainsFunc(cmd.Lits, func(l literal) bool { return l.Marker >= from }) {
		// A literal after the message that is none (a message is a stop).
		s.dropBackend(bc.id)
		s.tagged(cmd.Tag, "BAD", "unexpected literal after the message")
		return s.discardAppend(cmd)
	}
	bc.bw.Write(last[:held])
	rejected, err := s.send(bc, cmd.Raw, cmd.Lits[1:], from, cmd.Tag)
	if err == nil && rejected == nil {
		bc.nc.SetDeadline(time.Now().Add(bc.timout))
		stop := s.watchPlacement(bc, false)
		rejected, err = s.relay(bc, cmd.Tag, true)
		stop()
		bc.nc.SetDeadline(time.Time{})
	}
	if err != nil {
		return s.backendLost(cmd.Tag, bc, err)
	}
	s.bw.Write(rejected)
	s.bw.WriteString("\r\n")
	return true
}

// firstAppendHeader is the header of the first message of cmd, whose
// literal is pending, for a MULTIAPPEND.
func firstAppendHeader(cmd *Command) (multiappend.Header, error) {
	a := cmd.argReader()
	a.end = cmd.Pending.Marker
	if _, err := a.astring(); err != nil {
		return multiappend.Header{}, err
	}
	flags, date, err := appendOptions(a)
	return multiappend.Header{Flags: flags, Date: date, Size: cmd.Pending.Size}, err
}

// appendTarget reads APPEND's mailbox and checks the user may insert there.
func (s *session) appendTarget(cmd *Command) (*fsm.Mailbox, error) {
	a := cmd.argReader()
	if cmd.Pending != nil {
		a.end = cmd.Pending.Marker
	}
	name, err := s.mailboxArg(a)
	if err == nil {
		err = checkAppendDate(a)
	}
	if err != nil {
		return nil, err
	}
	m, err := s.lookup(name)
	if errors.Is(err, fsm.ErrNoMailbox) {
		return nil, errTryCreate
	}
	if err != nil {
		return nil, err
	}
	return m, s.need(m, 'i')
}

// refuseAppend answers an APPEND refused before the backend saw it and
// skips the message the client may already be sending.
func (s *session) refuseAppend(cmd *Command, err error) bool {
	if errors.Is(err, errTryCreate) {
		s.tagged(cmd.Tag, "NO", "[TRYCREATE] no such mailbox")
	} else {
		s.fail(cmd.Tag, err)
	}
	if s.wr.Discard(cmd) != nil {
		s.untagged("BYE too much input")
		return false
	}
	return true
}

// isAppendMessage reports whether lit is APPEND's message (streamed) rather
// than its mailbox name (read whole): the mailbox argument comes first.
func isAppendMessage(cmd *Command, lit *literal) bool {
	if cmd.Name != "APPEND" {
		return false
	}
	a := cmd.argReader()
	a.end = lit.Marker
	_, err := a.astring()
	return err == nil
}

// continueFailed answers an APPEND whose line could not be read on after
// a message: when the rest of the command was consumed it fails the
// command and keeps the session (true); otherwise the session ends.
func (s *session) continueFailed(cmd *Command, err error) bool {
	var we *wireError
	if errors.As(err, &we) && !we.Fatal {
		s.fail(cmd.Tag, we.Err)
		return true
	}
	return false
}
