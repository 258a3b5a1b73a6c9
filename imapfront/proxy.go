package imapfront

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/rookery-mail/rookery/fsm"
)

// Proxying: commands that concern one mailbox go to its primary backend
// with the client's own tag, and the backend's responses stream back
// unmodified until the tagged one.

// send writes raw[from:] to bc. Every literal in lits at or after from is
// sent as a synchronizing literal, whatever form the client used, so the
// backend's continuation paces it. rejected is the backend's tagged
// response when it refused a literal.
func (s *session) send(bc *backendConn, raw []byte, lits []literal, from int, tag string) (rejected []byte, err error) {
	bc.nc.SetDeadline(time.Now().Add(bc.timout))
	for _, lit := range lits {
		if lit.Marker < from {
			continue
		}
		bc.bw.Write(raw[from:lit.Marker])
		if lit.Binary {
			bc.bw.WriteByte('~')
		}
		bc.bw.WriteString("{" + strconv.FormatInt(lit.Size, 10) + "}\r\n")
		if rejected, err := s.awaitContinuation(bc, tag); rejected != nil || err != nil {
			return rejected, err
		}
		end := lit.Start + int(lit.Size)
		bc.bw.Write(raw[lit.Start:end])
		from = end
	}
	bc.bw.Write(raw[from:])
	if err := bc.bw.Flush(); err != nil {
		return nil, bc.fail(err)
	}
	return nil, nil
}

// awaitContinuation flushes what was written to bc and waits for its "+",
// relaying any untagged responses meanwhile. A tagged response for tag
// instead means the backend refused the command.
func (s *session) awaitContinuation(bc *backendConn, tag string) ([]byte, error) {
	if err := bc.bw.Flush(); err != nil {
		return nil, bc.fail(err)
	}
	for {
		b, err := bc.br.Peek(1)
		if err != nil {
			return nil, bc.fail(err)
		}
		if b[0] == '+' {
			_, err := bc.readResponse(io.Discard)
			if err != nil {
				return nil, bc.fail(err)
			}
			return nil, nil
		}
		head, err := bc.readResponse(s.bw)
		if err != nil {
			return nil, bc.fail(err)
		}
		if isTagged(head, tag) {
			return head, nil
		}
	}
}

// relay streams bc's responses to the client up to the tagged response
// for tag, which it returns; hold keeps that one back from the client.
func (s *session) relay(bc *backendConn, tag string, hold bool) ([]byte, error) {
	for {
		var w io.Writer = s.bw
		if hold {
			// Every response is longer than a tag and a space, and a
			// tagged one always follows, so this Peek cannot hang.
			if b, _ := bc.br.Peek(len(tag) + 1); len(b) == len(tag)+1 && string(b[:len(tag)]) == tag && b[len(tag)] == ' ' {
				w = io.Discard
			}
		}
		head, err := bc.readResponse(w)
		if err != nil {
			return nil, bc.fail(err)
		}
		if isTagged(head, tag) {
			return head, nil
		}
		if bc.br.Buffered() == 0 {
			s.bw.Flush() // untagged updates (IDLE) must not wait
		}
	}
}

// forward sends a whole command to bc and relays the responses.
func (s *session) forward(bc *backendConn, cmd *Command) ([]byte, error) {
	tagged, err := s.forwardHold(bc, cmd)
	if err == nil {
		s.status = status(tagged)
		s.bw.Write(tagged)
		s.bw.WriteString("\r\n")
	}
	return tagged, err
}

// forwardHold is forward, but keeps back the tagged response for the
// caller to send once the directory has caught up.
func (s *session) forwardHold(bc *backendConn, cmd *Command) ([]byte, error) {
	rejected, err := s.send(bc, cmd.Raw, cmd.Lits, 0, cmd.Tag)
	if err != nil || rejected != nil {
		return rejected, err
	}
	bc.nc.SetDeadline(time.Now().Add(bc.timout))
	defer bc.nc.SetDeadline(time.Time{})
	return s.relay(bc, cmd.Tag, true)
}

// backendLost ends the session if its selected mailbox's backend is gone;
// otherwise the command fails and the session goes on.
func (s *session) backendLost(tag string, bc *backendConn, err error) bool {
	s.log.Warn("backend connection lost", "backend_id", bc.id, "err", err)
	wasSelected := bc == s.selected
	s.dropBackend(bc.id)
	if wasSelected {
		s.untagged("BYE mail store unavailable; please reconnect")
		s.flush()
		return false
	}
	s.fail(tag, err)
	return true
}

// passThrough forwards a selected-state command to the selected backend.
func (s *session) passThrough(cmd *Command) bool {
	bc := s.selected
	tagged, err := s.forward(bc, cmd)
	if err != nil {
		s.log.Warn("selected backend lost", "backend_id", bc.id, "err", err)
		s.dropBackend(bc.id)
		s.untagged("BYE mail store unavailable; please reconnect")
		s.flush()
		return false
	}
	if (cmd.Name == "CLOSE" || cmd.Name == "UNSELECT") && status(tagged) == "OK" {
		s.selected, s.selName = nil, ""
	}
	return true
}

func (s *session) selectedCommand(cmd *Command) bool {
	switch cmd.Name {
	case "IDLE":
		return s.idle(cmd)
	case "COPY", "MOVE":
		return s.cmdCopy(cmd, false, cmd.Name == "MOVE")
	case "UID":
		a := cmd.argReader()
		if sub, err := a.atom(); err == nil && (sub == "COPY" || sub == "MOVE") {
			return s.cmdCopy(cmd, true, sub == "MOVE")
		}
	}
	return s.passThrough(cmd)
}

func (s *session) cmdSelect(cmd *Command) bool {
	a := cmd.argReader()
	name, err := s.mailboxArg(a)
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	m, err := s.lookup(name)
	if err == nil {
		err = s.need(m, 'r')
	}
	if err != nil {
		s.deselect()
		s.fail(cmd.Tag, err)
		return true
	}
	bc, err := s.backend(m.Primary.Backend)
	if err != nil {
		s.deselect()
		s.fail(cmd.Tag, err)
		return true
	}
	if s.selected != nil && s.selected != bc {
		s.deselect()
	}
	s.selected, s.selName = nil, ""
	tagged, err := s.forward(bc, cmd)
	if err != nil {
		s.dropBackend(bc.id)
		s.fail(cmd.Tag, err)
		return true
	}
	if status(tagged) == "OK" {
		s.selected, s.selName = bc, name
	}
	return true
}

// deselect leaves the selected mailbox on its backend, so that the
// connection can serve STATUS and APPEND without stray updates.
func (s *session) deselect() {
	bc := s.selected
	s.selected, s.selName = nil, ""
	if bc == nil {
		return
	}
	if err := bc.simple("UNSELECT"); err != nil {
		s.dropBackend(bc.id)
	}
}

func (s *session) cmdStatus(cmd *Command) bool {
	a := cmd.argReader()
	name, err := s.mailboxArg(a)
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	m, err := s.lookup(name)
	if err == nil {
		err = s.need(m, 'r')
	}
	var bc *backendConn
	if err == nil {
		bc, err = s.backend(m.Primary.Backend)
	}
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	if _, err := s.forward(bc, cmd); err != nil {
		return s.backendLost(cmd.Tag, bc, err)
	}
	return true
}

// relayStatus asks m's backend for STATUS on behalf of LIST-STATUS and
// relays the backend's responses.
func (s *session) relayStatus(m *fsm.Mailbox, items string) error {
	bc, err := s.backend(m.Primary.Backend)
	if err != nil {
		return err
	}
	_, err = bc.run("STATUS "+s.externalName(m.Name)+" ("+items+")", func(resp []byte) error {
		_, err := s.bw.Write(resp)
		return err
	})
	if err != nil && bc.broken {
		s.dropBackend(bc.id)
	}
	return err
}

// idle passes IDLE through: the backend's updates stream to the client
// while a second goroutine waits for the client's DONE.
func (s *session) idle(cmd *Command) bool {
	bc := s.selected
	if rejected, err := s.send(bc, cmd.Raw, nil, 0, cmd.Tag); err != nil || rejected != nil {
		return s.idleFailed(bc, rejected, err)
	}
	if rejected, err := s.awaitContinuation(bc, cmd.Tag); err != nil || rejected != nil {
		return s.idleFailed(bc, rejected, err)
	}
	s.bw.WriteString("+ idling\r\n")
	if s.flush() != nil {
		return false
	}
	done := make(chan error, 1)
	go func() {
		s.nc.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		line, err := s.wr.readLine(nil)
		if err == nil && !bytes.EqualFold(bytes.TrimSpace(line), []byte("DONE")) {
			err = fmt.Errorf("%w: expected DONE", ErrSyntax)
		}
		bc.bw.WriteString("DONE\r\n")
		if ferr := bc.bw.Flush(); err == nil {
			err = ferr
		}
		done <- err
	}()
	bc.nc.SetDeadline(time.Now().Add(s.cfg.IdleTimeout + s.cfg.BackendIdleTimeout))
	_, err := s.relay(bc, cmd.Tag, false)
	bc.nc.SetDeadline(time.Time{})
	s.nc.SetReadDeadline(time.Now()) // in case the backend ended IDLE on its own
	cerr := <-done
	if err != nil {
		s.dropBackend(bc.id)
		s.untagged("BYE mail store unavailable; please reconnect")
		s.flush()
		return false
	}
	if cerr != nil {
		// The client's next command may be half read: start afresh.
		s.untagged("BYE IDLE ended without DONE")
		s.flush()
		return false
	}
	return true
}

func (s *session) idleFailed(bc *backendConn, rejected []byte, err error) bool {
	if err != nil {
		s.dropBackend(bc.id)
		s.untagged("BYE mail store unavailable; please reconnect")
		s.flush()
		return false
	}
	s.bw.Write(rejected)
	s.bw.WriteString("\r\n")
	return true
}
