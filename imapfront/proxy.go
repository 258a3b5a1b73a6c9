package imapfront

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/condstore"
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
// instead means the backend refused the command: it is returned, not
// relayed, for the caller to answer with once.
func (s *session) awaitContinuation(bc *backendConn, tag string) ([]byte, error) {
	defer s.editing(bc)()
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
		if bc.byeNext() {
			return nil, bc.fail(errBackendBye)
		}
		var w io.Writer = s.bw
		if bc.taggedNext(tag) {
			w = io.Discard
		}
		head, err := bc.readResponse(w)
		if err != nil {
			s.torn = s.torn || (bc.torn && w != io.Discard)
			return nil, bc.fail(err)
		}
		if isTagged(head, tag) {
			return head, nil
		}
	}
}

// taggedNext reports whether bc's next response is the tagged one for
// tag. Every response is longer than a tag and a space, and a tagged one
// always follows, so the Peek cannot hang.
func (bc *backendConn) taggedNext(tag string) bool {
	b, _ := bc.br.Peek(len(tag) + 1)
	return len(b) == len(tag)+1 && string(b[:len(tag)]) == tag && b[len(tag)] == ' '
}

// relay streams bc's responses to the client up to the tagged response
// for tag, which it returns; hold keeps that one back from the client. A
// BYE from the backend is not passed on: the session decides what the
// client hears.
func (s *session) relay(bc *backendConn, tag string, hold bool) ([]byte, error) {
	defer s.editing(bc)()
	for {
		var w io.Writer = s.bw
		if bc.byeNext() {
			return nil, bc.fail(errBackendBye)
		}
		if hold && bc.taggedNext(tag) {
			w = io.Discard
		}
		head, err := bc.readResponse(w)
		if err != nil {
			s.torn = s.torn || (bc.torn && w != io.Discard)
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
	stop := s.watchPlacement(bc, false)
	tagged, err := s.relay(bc, cmd.Tag, true)
	stop()
	bc.nc.SetDeadline(time.Time{})
	return tagged, err
}

// backendLost handles a backend connection that failed during cmd: if it
// served the selected mailbox, the mailbox is selected again where the
// directory now places it and the command fails (its outcome is unknown);
// otherwise the command fails and the session goes on.
func (s *session) backendLost(tag string, bc *backendConn, err error) bool {
	s.log.Warn("backend connection lost", "backend_id", bc.id, "err", err)
	wasSelected := bc == s.selected
	s.dropBackend(bc.id)
	if wasSelected {
		if s.torn {
			return s.byeLost(err)
		}
		if _, err := s.reselect(); err != nil {
			return s.byeLost(err)
		}
		s.changed(tag)
		return true
	}
	s.fail(tag, err)
	return true
}

// passThrough forwards a selected-state command to the selected backend.
func (s *session) passThrough(cmd *Command) bool {
	return s.passThroughOnce(cmd, true)
}

// passThroughOnce is passThrough; retry allows one more attempt on the
// mailbox's new backend if this one is lost.
func (s *session) passThroughOnce(cmd *Command, retry bool) bool {
	bc := s.selected
	tagged, err := s.forward(bc, cmd)
	if err != nil {
		if !retry {
			s.dropBackend(bc.id)
			return s.byeLost(err)
		}
		return s.selectedLost(cmd, bc, err, func() bool { return s.passThroughOnce(cmd, false) })
	}
	if (cmd.Name == "CLOSE" || cmd.Name == "UNSELECT") && status(tagged) == "OK" {
		s.clearView()
	}
	return true
}

func (s *session) selectedCommand(cmd *Command) bool {
	expunged, ok := s.selectedReady()
	if !ok {
		return false
	}
	if expunged && usesSeqNumbers(cmd) {
		// The client numbered its messages before those EXPUNGEs.
		s.changed(cmd.Tag)
		return true
	}
	switch cmd.Name {
	case "IDLE":
		return s.idle(cmd)
	case "COPY", "MOVE":
		return s.cmdCopy(cmd, false, cmd.Name == "MOVE")
	case "SEARCH":
		return s.checkedPassThrough(cmd, false, true)
	case "SORT", "THREAD":
		return s.cmdSort(cmd)
	case "FETCH":
		if s.condstoreOffered() && len(cmd.Lits) == 0 {
			return s.cmdFetch(cmd, false, true)
		}
	case "STORE":
		if s.condstoreOffered() && len(cmd.Lits) == 0 {
			return s.cmdStore(cmd, false)
		}
	case "UID":
		a := cmd.argReader()
		sub, err := a.atom()
		condstore := s.condstoreOffered() && len(cmd.Lits) == 0
		switch {
		case err == nil && sub == "FETCH" && condstore:
			return s.cmdFetch(cmd, true, true)
		case err == nil && sub == "STORE" && condstore:
			return s.cmdStore(cmd, true)
		case err == nil && (sub == "COPY" || sub == "MOVE"):
			return s.cmdCopy(cmd, true, sub == "MOVE")
		case err == nil && sub == "SEARCH":
			return s.checkedPassThrough(cmd, true, true)
		case err == nil && (sub == "SORT" || sub == "THREAD"):
			return s.cmdSort(cmd)
		}
	}
	return s.passThrough(cmd)
}

// checkedPassThrough passes SEARCH through once its criteria parse
// (searchargs.go); a reads them.
func (s *session) checkedPassThrough(cmd *Command, byUID, retry bool) bool {
	a := argsAfter(cmd, byUID)
	a.condstore = s.condstoreOffered()
	if err := checkSearch(a); err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	if len(a.spoolKeys) > 0 {
		expanded, edits, err := s.expandSpoolKeys(cmd, a.spoolKeys, a.returnOpts, byUID)
		if err != nil {
			return s.condstoreFailed(cmd, err, retry, func() bool { return s.checkedPassThrough(cmd, byUID, false) })
		}
		shiftKeys(a.within, edits)
		cmd = expanded
	}
	if len(a.within) > 0 {
		return s.withinOnce(cmd, a.within, true, func(cmd *Command, retry bool) bool {
			return s.passThroughOnce(cmd, retry)
		})
	}
	return s.passThrough(cmd)
}

// withinOnce runs cmd with its WITHIN keys expanded (within.go) through
// run; retry allows one more attempt where the mailbox is selected again
// if the backend is lost.
func (s *session) withinOnce(cmd *Command, keys []withinKey, retry bool, run func(*Command, bool) bool) bool {
	if len(keys) > maxWithinKeys {
		s.tagged(cmd.Tag, "NO", "[LIMIT] at most %d OLDER and YOUNGER keys a command", maxWithinKeys)
		return true
	}
	bc := s.selected
	expanded, err := s.expandWithin(bc, cmd, keys)
	switch {
	case err != nil && bc.broken && retry:
		return s.selectedLost(cmd, bc, err, func() bool { return s.withinOnce(cmd, keys, false, run) })
	case err != nil && bc.broken:
		s.dropBackend(bc.id)
		return s.byeLost(err)
	case err != nil:
		if !errors.Is(err, ErrLimit) {
			s.log.Warn("WITHIN search failed", "backend_id", bc.id, "err", err)
		}
		s.fail(cmd.Tag, err)
		return true
	}
	return run(expanded, retry)
}

// maxWithinKeys bounds the OLDER and YOUNGER keys of one command: each
// costs a search and a FETCH on the backend.
const maxWithinKeys = 8

func (s *session) cmdSelect(cmd *Command) bool {
	a := cmd.argReader()
	name, err := s.mailboxArg(a)
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	cmd, condstoreAsked, qresync, err := s.selectParams(cmd, a)
	var m *fsm.Mailbox
	if err == nil {
		m, err = s.lookup(name)
	}
	if err == nil {
		err = s.need(m, 'r')
	}
	if err != nil {
		s.closeSelected()
		s.fail(cmd.Tag, err)
		return true
	}
	bc, err := s.backend(m.Primary.Backend)
	if err != nil {
		s.closeSelected()
		s.fail(cmd.Tag, err)
		return true
	}
	if s.selected != nil && s.selected != bc {
		// The new backend has nothing selected to close: CLOSED is said
		// here.
		s.closeSelected()
	}
	s.clearView()
	if cmd.Name == "SELECT" && !mayChange(s.user, m) {
		cmd = asExamine(cmd)
	}
	// HIGHESTMODSEQ is read before the SELECT: what it shows changed at
	// or below it (a lower bound is safe, a higher one is not).
	condstoreOn := condstoreAsked || s.cs.on
	var highest uint64
	if condstoreOn {
		r, err := s.readModSeqsOf(bc.id, m.ID, condstore.ReadRequest{})
		if err != nil {
			s.fail(cmd.Tag, err)
			return true
		}
		highest = r.HighestModSeq
	}
	// The SELECT's own responses (EXISTS, UIDVALIDITY) start the view.
	v := &mboxView{id: m.ID, readOnly: cmd.Name == "EXAMINE", uidValidity: m.UIDValidity}
	bc.view = v
	tagged, err := s.forwardHold(bc, cmd)
	if err != nil {
		s.dropBackend(bc.id)
		s.fail(cmd.Tag, err)
		return true
	}
	if status(tagged) == "OK" && condstoreOn {
		s.cs.on = true
		s.untagged("OK [HIGHESTMODSEQ %d] Highest", highest)
	}
	if status(tagged) == "OK" && s.objectIDOffered() {
		s.untagged("OK [MAILBOXID (%s)] Ok", mailboxID(m.ID))
	}
	if status(tagged) == "OK" {
		s.setSelected(bc, name, v)
		s.cs.highest, s.cs.read, s.cs.shown = highest, nil, nil
		if qresync != nil {
			if err := s.qresyncSelect(*qresync); err != nil {
				// The mailbox is selected; the client may resynchronise
				// the old way.
				s.log.Warn("QRESYNC of SELECT failed", "backend_id", bc.id, "err", err)
				if bc.broken {
					s.dropBackend(bc.id)
					return s.byeLost(err)
				}
			}
		}
	}
	s.status = status(tagged)
	s.bw.Write(tagged)
	s.bw.WriteString("\r\n")
	if status(tagged) != "OK" {
		bc.view = nil
		return true
	}
	// The view must name every message while the backend that has them
	// is there to ask; keepView does so before the next command.
	return true
}

// mayChange reports whether user holds a right that changes a selected
// mailbox (s, w, t or e): without one, a SELECT is read-only (RFC 4314
// section 4), and the client is told READ-ONLY.
func mayChange(user string, m *fsm.Mailbox) bool {
	return strings.ContainsAny(fsm.Rights(user, m), "swte")
}

// asExamine is cmd, a SELECT, sent as EXAMINE: the backend then answers
// READ-ONLY with no PERMANENTFLAGS and refuses every change.
func asExamine(cmd *Command) *Command {
	at := len(cmd.Tag) + 1
	end := at + len("SELECT")
	raw := make([]byte, 0, len(cmd.Raw)+1)
	raw = append(append(append(raw, cmd.Raw[:at]...), "EXAMINE"...), cmd.Raw[end:]...)
	shift := len(raw) - len(cmd.Raw)
	ex := *cmd
	ex.Name, ex.Raw, ex.args = "EXAMINE", raw, cmd.args+shift
	ex.Lits = make([]literal, len(cmd.Lits))
	for i, l := range cmd.Lits {
		l.Marker += shift
		l.Start += shift
		ex.Lits[i] = l
	}
	return &ex
}

// closeSelected leaves the mailbox the client has selected, if any, and
// tells it so with OK [CLOSED] (RFC 7162 section 3.2.11), as a backend's
// own SELECT does when it closes one.
func (s *session) closeSelected() {
	if s.isSelected() {
		s.untagged("OK [CLOSED] Previous mailbox closed")
	}
	s.deselect()
}

// deselect leaves the selected mailbox on its backend, so that the
// connection can serve STATUS and APPEND without stray updates.
func (s *session) deselect() {
	bc := s.selected
	s.clearView()
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
	if err == nil && s.condstoreOffered() {
		cmd, err = s.statusExtras(cmd, a, bc, m)
	}
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	if cmd == nil {
		return true // answered
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
	extra := ""
	if s.condstoreOffered() {
		var rest []string
		if rest, extra, err = s.statusItems(strings.Fields(items), bc.id, m); err != nil {
			return err
		}
		if len(rest) == 0 {
			s.untagged("STATUS %s (%s)", s.externalName(m.Name), extra)
			return nil
		}
		items = strings.Join(rest, " ")
	}
	_, err = bc.run("STATUS "+s.externalName(m.Name)+" ("+items+")", func(resp []byte) error {
		if extra != "" {
			if i := bytes.IndexByte(resp, '\n'); i == len(resp)-1 {
				resp = withStatusItems(resp, extra)
			}
		}
		_, err := s.bw.Write(resp)
		return err
	})
	if err != nil && bc.broken {
		s.dropBackend(bc.id)
	}
	return err
}

// idle passes IDLE through: the backend's updates stream to the client
// while a second goroutine waits for the client's DONE. If the backend is
// lost meanwhile, the mailbox is selected again on its new primary, the
// client hears what changed, and the session idles there until DONE.
func (s *session) idle(cmd *Command) bool {
	bc := s.selected
	rejected, err := s.beginIdle(bc, cmd)
	if err != nil {
		s.dropBackend(bc.id)
		if s.torn {
			return s.byeLost(err)
		}
		if _, err := s.reselect(); err != nil {
			return s.byeLost(err)
		}
		bc = s.selected
		if rejected, err = s.beginIdle(bc, cmd); err != nil {
			return s.byeLost(err)
		}
	}
	if rejected != nil {
		s.bw.Write(rejected)
		s.bw.WriteString("\r\n")
		return true
	}
	s.bw.WriteString("+ idling\r\n")
	if s.flush() != nil {
		return false
	}
	w := &idleWait{bc: bc, done: make(chan struct{})}
	go s.awaitDone(w)
	ended := s.idleLoop(cmd, bc, w)
	s.nc.SetReadDeadline(time.Now()) // in case the backend ended IDLE on its own
	<-w.done
	if ended {
		return false
	}
	if w.err != nil {
		// The client's next command may be half read: start afresh.
		s.untagged("BYE IDLE ended without DONE")
		s.flush()
		return false
	}
	return true
}

// maxIdleResumes bounds how often one IDLE follows its mailbox to another
// backend.
const maxIdleResumes = 5

// idleLoop relays bc's updates until IDLE's tagged response, following the
// mailbox to its new backend when bc is lost. ended says the session ended.
func (s *session) idleLoop(cmd *Command, bc *backendConn, w *idleWait) (ended bool) {
	for resumes := 0; ; resumes++ {
		bc.nc.SetDeadline(time.Now().Add(s.cfg.IdleTimeout + s.cfg.BackendIdleTimeout))
		stop := s.watchPlacement(bc, true)
		_, err := s.relay(bc, cmd.Tag, false)
		stop()
		bc.nc.SetDeadline(time.Time{})
		if err == nil {
			return false
		}
		w.setBackend(nil)
		s.log.Warn("selected backend lost during IDLE", "backend_id", bc.id, "err", err)
		s.dropBackend(bc.id)
		if s.torn || resumes == maxIdleResumes {
			return !s.byeLost(err)
		}
		next, err := s.resumeIdle(cmd, w)
		if err != nil {
			return !s.byeLost(err)
		}
		if next == nil {
			// The client said DONE while the mailbox changed backends.
			s.ok(cmd.Tag, "IDLE terminated")
			return false
		}
		bc = next
	}
}

// resumeIdle selects the mailbox again, flushes what changed to the
// idling client and starts IDLE on the new backend, unless the client has
// said DONE meanwhile (next is then nil).
func (s *session) resumeIdle(cmd *Command, w *idleWait) (next *backendConn, err error) {
	if _, err := s.reselect(); err != nil {
		return nil, err
	}
	if err := s.flush(); err != nil {
		return nil, err
	}
	if w.clientDone() {
		return nil, nil
	}
	bc := s.selected
	rejected, err := s.beginIdle(bc, cmd)
	if err == nil && rejected != nil {
		err = fmt.Errorf("%w: IDLE refused: %q", ErrBackendProtocol, rejected)
	}
	if err != nil {
		return nil, err
	}
	w.setBackend(bc)
	return bc, nil
}

// beginIdle sends IDLE to bc and waits for its continuation; rejected is
// the backend's refusal.
func (s *session) beginIdle(bc *backendConn, cmd *Command) (rejected []byte, err error) {
	if rejected, err := s.send(bc, cmd.Raw, nil, 0, cmd.Tag); err != nil || rejected != nil {
		return rejected, err
	}
	bc.nc.SetDeadline(time.Now().Add(bc.timout))
	stop := s.watchPlacement(bc, true)
	rejected, err = s.awaitContinuation(bc, cmd.Tag)
	stop()
	bc.nc.SetDeadline(time.Time{})
	return rejected, err
}

// idleWait is the client side of an IDLE: the goroutine that reads DONE
// and passes it to whichever backend the session idles on by then.
type idleWait struct {
	mu   sync.Mutex
	bc   *backendConn // where DONE goes; nil while changing backends
	got  bool         // the client's line was read
	err  error        // what was wrong with it
	done chan struct{}
}

func (s *session) awaitDone(w *idleWait) {
	defer close(w.done)
	s.setReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
	line, err := s.wr.readLine(nil)
	if err == nil && !bytes.EqualFold(bytes.TrimSpace(line), []byte("DONE")) {
		err = fmt.Errorf("%w: expected DONE", ErrSyntax)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got, w.err = true, err
	if w.bc != nil {
		sendDone(w.bc)
	}
}

// setBackend names the backend DONE goes to; if the client has said it
// already, it goes there now.
func (w *idleWait) setBackend(bc *backendConn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.bc = bc
	if bc != nil && w.got {
		sendDone(bc)
	}
}

func (w *idleWait) clientDone() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.got
}

// sendDone ends IDLE on bc. A write error shows up in the relay.
func sendDone(bc *backendConn) {
	bc.bw.WriteString("DONE\r\n")
	bc.bw.Flush()
}
