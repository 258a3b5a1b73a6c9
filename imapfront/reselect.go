package imapfront

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// Staying selected through a failover or a move. The session keeps the
// client's view of its selected mailbox: the UIDs in sequence order, as
// the responses relayed to the client built it. When the backend serving
// the mailbox goes away (an I/O error, a BYE, or the directory naming
// another primary), the session selects the same mailbox on its current
// primary and tells the client only the difference: EXPUNGE for what is
// gone, EXISTS for what is new. Replication makes every message a client
// could see present on every in-sync replica, and failover keeps the
// mailbox's id and UIDVALIDITY, so the client stays connected and its
// UIDs only ascend.

// errViewLost: the client's view of the selected mailbox cannot be carried
// to the backend that serves it now; only a new session can go on.
var errViewLost = errors.New("imapfront: selected mailbox changed under the session")

// placementPoll bounds each wait for the directory while the selected
// mailbox has no reachable primary: a dial is retried at least this often.
const placementPoll = 200 * time.Millisecond

// syncedReadBound bounds the synced read that starts a reselect.
const syncedReadBound = time.Second

// mboxView is the client's view of its selected mailbox.
type mboxView struct {
	id          uint64 // the mailbox's directory id, which renames keep
	readOnly    bool   // selected with EXAMINE
	uidValidity uint32
	uids        []uint32 // known UIDs by sequence number, ascending
	// unknown counts the messages after uids that the client was told of
	// (EXISTS) but whose UIDs the session has not learnt yet: they are the
	// newest, so their UIDs are above every known one.
	unknown int
	top     uint32 // the highest UID the session has known, expunged or not
	// flags is the mailbox's flags as the last FLAGS response named them.
	flags []string
	// lastExists is n when the last response was "* n EXISTS", else 0:
	// the backend names the new message's UID in the response after it.
	lastExists int
	// lastAnnounced is the last response, when it was such a naming
	// (for internal commands, whose responses are tracked before they
	// are passed on).
	lastAnnounced string
	// broken says which response did not fit the view, which then cannot
	// be carried over to another backend; "" while it fits.
	broken string
}

func (v *mboxView) count() int { return len(v.uids) + v.unknown }

// track follows one untagged response the backend sent to the session:
// EXISTS and EXPUNGE change the view, and SELECT's UIDVALIDITY names it.
// It reads only the response's first line, never a literal.
func (v *mboxView) track(head []byte) {
	rest, ok := bytes.CutPrefix(head, []byte("* "))
	if !ok {
		return
	}
	afterExists := v.lastExists
	v.lastExists, v.lastAnnounced = 0, ""
	if n, word, ok := numbered(rest); ok {
		switch {
		case bytes.EqualFold(word, []byte("EXISTS")):
			v.exists(n)
			v.lastExists = n
		case bytes.EqualFold(word, []byte("EXPUNGE")):
			v.expunge(n)
		case bytes.EqualFold(word, []byte("FETCH")) && afterExists == n && v.isAnnouncement(head, n):
			// The backend names a new message's UID right after its
			// EXISTS (backend/imapd mergeLocked).
			v.lastAnnounced = string(head)
			if uid, _ := fetchUID(head); n == len(v.uids)+1 && v.unknown > 0 {
				v.learn([]uint32{uid})
			}
		}
		return
	}
	if n, ok := uidValidityCode(rest); ok {
		v.uidValidity = n
	}
	if list, ok := bytes.CutPrefix(rest, []byte("FLAGS (")); ok {
		// The flags the client has been told the mailbox has (CONDSTORE
		// announces any other before it shows one; condstore.go).
		list, _, _ = bytes.Cut(list, []byte(")"))
		v.flags = strings.Fields(string(list))
	}
}

// announces reports whether line, the first line of a response, is the
// backend's naming of a new message's UID: a FETCH of UID and FLAGS
// alone of the message whose EXISTS was the response just before, which
// the backend writes one after the other (backend/imapd mergeLocked).
func (v *mboxView) announces(line []byte) bool {
	if v.lastAnnounced != "" && string(bytes.TrimSuffix(line, []byte("\r\n"))) == v.lastAnnounced {
		return true
	}
	rest, ok := bytes.CutPrefix(line, []byte("* "))
	if !ok || v.lastExists == 0 {
		return false
	}
	n, word, ok := numbered(rest)
	return ok && n == v.lastExists && bytes.EqualFold(word, []byte("FETCH")) && v.isAnnouncement(line, n)
}

// isAnnouncement: line is a FETCH of message n's UID and FLAGS alone.
func (v *mboxView) isAnnouncement(line []byte, n int) bool {
	_, uidOK := fetchUID(line)
	seq, _, _, _, end, flagsOK := fetchFlags(line)
	return uidOK && flagsOK && int(seq) == n && strings.TrimSuffix(string(line[end:]), "\r\n") == ")"
}

// fetchUID is the UID of a FETCH response whose first item is UID.
func fetchUID(line []byte) (uint32, bool) {
	i := bytes.Index(line, []byte(" FETCH (UID "))
	if i < 0 {
		return 0, false
	}
	at := i + len(" FETCH (UID ")
	j := at
	for j < len(line) && line[j] >= '0' && line[j] <= '9' {
		j++
	}
	uid, err := strconv.ParseUint(string(line[at:j]), 10, 32)
	return uint32(uid), err == nil && uid > 0
}

// breakOn marks the view broken by what, unless it already is.
func (v *mboxView) breakOn(format string, args ...any) {
	if v.broken == "" {
		v.broken = fmt.Sprintf(format, args...)
	}
}

func (v *mboxView) exists(n int) {
	if n < v.count() {
		// Only EXPUNGE makes a mailbox smaller.
		v.breakOn("EXISTS %d with %d messages known", n, v.count())
		return
	}
	v.unknown += n - v.count()
}

func (v *mboxView) expunge(n int) {
	switch {
	case n >= 1 && n <= len(v.uids):
		v.uids = slices.Delete(v.uids, n-1, n)
	case n > len(v.uids) && n <= v.count():
		v.unknown--
	default:
		v.breakOn("EXPUNGE %d with %d messages known", n, v.count())
	}
}

// learn moves the first len(uids) unknown messages into the known ones.
func (v *mboxView) learn(uids []uint32) {
	for _, u := range uids {
		if _, known := slices.BinarySearch(v.uids, u); known {
			continue // learnt already, from the backend's naming of it
		}
		if u <= v.top || v.unknown == 0 {
			// A UID below one already known is not the tail.
			v.breakOn("UID %d learnt after %d, with %d messages unknown", u, v.top, v.unknown)
			return
		}
		v.uids = append(v.uids, u)
		v.unknown--
		v.top = u
	}
}

// numbered parses "n WORD ..." (after "* ").
func numbered(rest []byte) (int, []byte, bool) {
	num, word, ok := bytes.Cut(rest, []byte(" "))
	if !ok || len(num) == 0 || len(num) > 10 {
		return 0, nil, false
	}
	n, err := strconv.Atoi(string(num))
	if err != nil || n < 0 {
		return 0, nil, false
	}
	word, _, _ = bytes.Cut(word, []byte(" "))
	return n, word, true
}

var reUIDValidity = regexp.MustCompile(`(?i)^OK \[UIDVALIDITY (\d+)\]`)

func uidValidityCode(rest []byte) (uint32, bool) {
	m := reUIDValidity.FindSubmatch(rest)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseUint(string(m[1]), 10, 32)
	return uint32(n), err == nil
}

// reFetchUIDOnly is the answer to the session's own FETCH n:* (UID).
var reFetchUIDOnly = regexp.MustCompile(`(?i)^\* (\d+) FETCH \(UID (\d+)\)\r?\n?$`)

// firstLine is a whole response's first line without CRLF.
func firstLine(resp []byte) []byte {
	line, _, _ := bytes.Cut(resp, []byte("\r\n"))
	return line[:min(len(line), maxHead)]
}

// isBye reports whether a response head is an untagged BYE.
func isBye(head []byte) bool {
	return len(head) >= 5 && bytes.EqualFold(head[:5], []byte("* BYE"))
}

// isSelected reports whether the client has a mailbox selected. The
// selection may be waiting for a backend connection (s.selected nil).
func (s *session) isSelected() bool {
	if s.view != nil && s.selName == "" {
		s.clearView() // the mailbox was deleted by this session
	}
	return s.view != nil
}

// setSelected makes bc the connection that serves the client's view v.
func (s *session) setSelected(bc *backendConn, name string, v *mboxView) {
	s.clearView()
	s.selected, s.selName, s.view = bc, name, v
	bc.view = v
}

// clearView forgets the client's view: no mailbox is selected.
func (s *session) clearView() {
	for _, bc := range s.backends {
		bc.view = nil
	}
	s.view = nil
	s.selected, s.selName = nil, ""
}

// placementChanged reports whether the selected connection no longer
// serves the selected mailbox: it failed, its backend is down, or the
// directory names another primary.
func (s *session) placementChanged() bool {
	bc := s.selected
	if bc == nil || bc.broken {
		return true
	}
	v, err := s.local()
	if err != nil {
		return true // reselect reads again, and says why it cannot
	}
	down, moved := placement(v, s.view.id, bc.id)
	return down || moved
}

// placement reads a view of the directory: whether backend is down, and
// whether mailbox id has moved away from it.
func placement(f *fsm.View, id uint64, backend string) (down, moved bool) {
	b, ok := f.Backend(backend)
	down = !ok || b.State == fsm.BackendDown
	m, ok := f.MailboxByID(id)
	moved = !ok || m.Primary.Backend != backend
	return down, moved
}

// selectedReady makes sure the selected mailbox is served by the session's
// connection before a command goes to it, selecting it again where the
// directory now places it. expunged says the client was just sent EXPUNGE
// responses; false ends the session.
func (s *session) selectedReady() (expunged, ok bool) {
	if !s.placementChanged() {
		return false, true
	}
	expunged, err := s.reselect()
	if err != nil {
		return false, s.byeLost(err)
	}
	return expunged, true
}

// watchPlacement makes a wait on bc end early when the local directory
// copy marks its backend down (or, in IDLE on the selected mailbox, when
// the mailbox's primary moves): a frozen backend sends no reset, and the
// session must not sit out a TCP or command timeout. stop ends the watch;
// it must be called before bc's deadline is reset.
func (s *session) watchPlacement(bc *backendConn, idle bool) (stop func()) {
	var id uint64 // the selected mailbox, if bc serves it
	if s.view != nil && bc == s.selected {
		id = s.view.id
	}
	backend := bc.id
	dir := s.cfg.Directory
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			v, err := dir.Read(ctx, directory.Local)
			if err != nil {
				return
			}
			if down, moved := placement(v, id, backend); down || (idle && id != 0 && moved) {
				bc.nc.SetDeadline(time.Now())
				return
			}
			if dir.WaitApplied(ctx, v.Index()+1) != nil {
				return
			}
		}
	}()
	return func() { cancel(); <-done }
}

// reselect selects the client's mailbox again on its current primary,
// waiting up to BackendTimeout for the directory to name one that can be
// reached, and brings the client's view in line with it.
func (s *session) reselect() (expunged bool, err error) {
	v := s.view
	if s.selected != nil {
		s.dropBackend(s.selected.id)
	}
	if v == nil {
		return false, fmt.Errorf("%w: no mailbox is selected", errViewLost)
	}
	if v.broken != "" {
		return false, fmt.Errorf("%w: the session lost track of it at %s", errViewLost, v.broken)
	}
	deadline := time.Now().Add(s.cfg.BackendTimeout)
	// A synced read catches up a lagging local copy; without a leader it
	// would wait, so it is bounded, and the loop below polls the copy.
	ctx, cancel := context.WithTimeout(context.Background(), min(s.cfg.DirectoryTimeout, syncedReadBound))
	_, err = s.cfg.Directory.Read(ctx, directory.Synced)
	cancel()
	if err != nil {
		s.log.Warn("directory read before reselecting failed", "err", err)
	}
	lastErr := fmt.Errorf("%w: the mailbox has no primary", ErrBackendDown)
	for {
		m, err := s.selectedMailbox(v)
		if err != nil {
			return false, err
		}
		if m.State == fsm.Active {
			expunged, err := s.resumeOn(m, v)
			if err == nil {
				s.log.Info("selected mailbox resumed", "mailbox_id", m.ID, "backend_id", m.Primary.Backend)
				return expunged, nil
			}
			if errors.Is(err, errViewLost) || len(m.Replicas) == 0 {
				// Without a replica there is nothing to fail over to.
				return false, err
			}
			lastErr = err
		}
		if !time.Now().Before(deadline) {
			return false, lastErr
		}
		s.awaitDirectory(deadline)
	}
}

// selectedMailbox finds the selected mailbox's record by id (a rename
// keeps it), else by the name it was selected under: a mailbox created
// there since has another UIDVALIDITY, which resumeOn turns away.
func (s *session) selectedMailbox(v *mboxView) (*fsm.Mailbox, error) {
	f, err := s.local()
	if err != nil {
		return nil, err
	}
	if m, ok := f.MailboxByID(v.id); ok {
		return m, nil
	}
	if m, ok := f.Mailbox(s.selName); ok {
		return m, nil
	}
	return nil, fmt.Errorf("%w: mailbox %d is gone", errViewLost, v.id)
}

// awaitDirectory returns when the local directory copy applies a command,
// after placementPoll, or at deadline, whichever comes first.
func (s *session) awaitDirectory(deadline time.Time) {
	if soon := time.Now().Add(placementPoll); soon.Before(deadline) {
		deadline = soon
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	v, err := s.cfg.Directory.Read(ctx, directory.Local)
	if err != nil {
		<-ctx.Done()
		return
	}
	s.cfg.Directory.WaitApplied(ctx, v.Index()+1)
}

// resumeOn selects m on its primary, checks it is the mailbox the client
// knows, and reconciles the client's view with it.
func (s *session) resumeOn(m *fsm.Mailbox, v *mboxView) (expunged bool, err error) {
	bc, err := s.backend(m.Primary.Backend)
	if err != nil {
		return false, err
	}
	verb := "SELECT "
	if v.readOnly {
		verb = "EXAMINE "
	}
	var uidValidity uint32
	tagged, err := bc.run(verb+s.externalName(m.Name), func(resp []byte) error {
		if rest, ok := bytes.CutPrefix(firstLine(resp), []byte("* ")); ok {
			if n, ok := uidValidityCode(rest); ok {
				uidValidity = n
			}
		}
		return nil
	})
	if err == nil && status(tagged) != "OK" {
		err = fmt.Errorf("%w: %s: %q", ErrBackendDown, verb, tagged)
	}
	if err == nil && uidValidity != v.uidValidity {
		err = fmt.Errorf("%w: UIDVALIDITY %d is now %d", errViewLost, v.uidValidity, uidValidity)
	}
	var uids []uint32
	var tail int
	if err == nil {
		uids, tail, err = listUIDs(bc)
	}
	if err != nil {
		// The connection may have another mailbox selected, or none.
		s.dropBackend(bc.id)
		return false, err
	}
	nv, expunged, err := s.reconcile(v, uids, tail)
	if err != nil {
		s.dropBackend(bc.id)
		return false, err
	}
	s.setSelected(bc, m.Name, nv)
	return expunged, nil
}

// listUIDs asks bc for every UID of its selected mailbox. Responses that
// follow the search (new mail, expunges) are applied to the list; tail
// counts the messages announced after it.
func listUIDs(bc *backendConn) (uids []uint32, tail int, err error) {
	searched := false
	tagged, err := bc.run("UID SEARCH ALL", func(resp []byte) error {
		head := firstLine(resp)
		rest, ok := bytes.CutPrefix(head, []byte("* "))
		if !ok {
			return nil
		}
		if fields, ok := bytes.CutPrefix(rest, []byte("SEARCH")); ok && !searched {
			searched = true
			for _, f := range bytes.Fields(fields) {
				u, err := strconv.ParseUint(string(f), 10, 32)
				if err != nil {
					return fmt.Errorf("%w: search result %q", ErrBackendProtocol, f)
				}
				uids = append(uids, uint32(u))
			}
			return nil
		}
		n, word, ok := numbered(rest)
		switch {
		case !ok || !searched:
		case bytes.EqualFold(word, []byte("EXISTS")):
			tail = max(tail, n-len(uids))
		case bytes.EqualFold(word, []byte("EXPUNGE")) && n >= 1 && n <= len(uids):
			uids = slices.Delete(uids, n-1, n)
		case bytes.EqualFold(word, []byte("EXPUNGE")) && n > len(uids) && tail > 0:
			tail--
		}
		return nil
	})
	if err == nil && (status(tagged) != "OK" || !searched) {
		err = fmt.Errorf("%w: UID SEARCH ALL: %q", ErrBackendProtocol, tagged)
	}
	if err == nil && !slices.IsSorted(uids) {
		err = fmt.Errorf("%w: UIDs out of order", ErrBackendProtocol)
	}
	return uids, tail, err
}

// reconcile tells the client how the mailbox on its new primary differs
// from the view it has: EXPUNGE (highest sequence number first) for the
// messages that are gone, then EXISTS if there are more. It refuses when
// the new primary holds a message the client would see appear below a UID
// it knew, or lacks messages the client was told of but could not be
// named: those the session cannot present without breaking the client.
func (s *session) reconcile(v *mboxView, uids []uint32, tail int) (*mboxView, bool, error) {
	have := make(map[uint32]bool, len(uids))
	for _, u := range uids {
		have[u] = true
	}
	known := make(map[uint32]bool, len(v.uids))
	var kept []uint32
	var gone []int
	for i, u := range v.uids {
		known[u] = true
		if have[u] {
			kept = append(kept, u)
		} else {
			gone = append(gone, i+1)
		}
	}
	var fresh []uint32
	for _, u := range uids {
		if known[u] {
			continue
		}
		if u <= v.top {
			return nil, false, fmt.Errorf("%w: UID %d would appear below %d", errViewLost, u, v.top)
		}
		fresh = append(fresh, u)
	}
	if len(fresh)+tail < v.unknown {
		return nil, false, fmt.Errorf("%w: %d announced messages are missing (the client knew %d UIDs up to %d and %d more; the mailbox has %d UIDs, %d of them new, and %d more)",
			errViewLost, v.unknown-len(fresh)-tail, len(v.uids), v.top, v.unknown, len(uids), len(fresh), tail)
	}
	for i := len(gone) - 1; i >= 0; i-- {
		s.expungeResponse(gone[i], v.uids[gone[i]-1])
	}
	nv := &mboxView{id: v.id, readOnly: v.readOnly, uidValidity: v.uidValidity,
		uids: append(kept, fresh...), unknown: tail, top: v.top, flags: v.flags}
	if len(fresh) > 0 {
		nv.top = max(nv.top, fresh[len(fresh)-1])
	}
	if nv.count() > len(kept)+v.unknown {
		s.untagged("%d EXISTS", nv.count())
	}
	if len(gone) > 0 || len(fresh) > 0 {
		s.log.Info("client view reconciled", "mailbox_id", v.id, "expunged", len(gone), "new", len(fresh)+tail-v.unknown)
	}
	return nv, len(gone) > 0, nil
}

// learnTail asks the selected backend for the UIDs of messages the client
// was told of but the session cannot name yet, between client commands.
// It uses FETCH by sequence number, during which the backend sends no
// EXPUNGE; any response other than its own answers goes on to the client.
func (s *session) learnTail() error {
	v, bc := s.view, s.selected
	for round := 0; round < 4 && v.unknown > 0 && v.broken == ""; round++ {
		base, n := len(v.uids), v.unknown
		got := make([]uint32, n)
		tagged, err := bc.run("FETCH "+strconv.Itoa(base+1)+":* (UID)", func(resp []byte) error {
			if m := reFetchUIDOnly.FindSubmatch(resp); m != nil {
				seq, _ := strconv.Atoi(string(m[1]))
				uid, _ := strconv.ParseUint(string(m[2]), 10, 32)
				if seq > base && seq <= base+n {
					got[seq-base-1] = uint32(uid)
					return nil
				}
			}
			s.pass(resp)
			return nil
		})
		if err != nil {
			return err
		}
		if status(tagged) != "OK" {
			// Nothing was learnt, and nothing contradicts the view: the
			// messages stay unknown, to be asked for again.
			s.log.Info("backend did not answer FETCH (UID); asking again later", "backend_id", bc.id, "reply", string(tagged))
			return nil
		}
		// A message the backend gave no UID for (its own count may lag the
		// EXISTS it sent) stays unknown, with every one after it.
		answered := 0
		for answered < n && got[answered] != 0 {
			answered++
		}
		v.learn(got[:answered])
		if answered < n {
			s.log.Info("backend answered FETCH (UID) in part; asking again later", "backend_id", bc.id,
				"asked", n, "answered", answered)
			return nil
		}
	}
	return nil
}

// keepView runs between client commands: it learns the UIDs of new
// messages while the backend that has them is there to ask. A failure
// leaves the selection for the next command to restore.
func (s *session) keepView() {
	if !s.isSelected() || s.selected == nil || s.view.unknown == 0 {
		return
	}
	if err := s.learnTail(); err != nil {
		s.log.Warn("learning new UIDs failed", "backend_id", s.selected.id, "err", err)
		if s.selected.broken {
			s.dropBackend(s.selected.id)
		} else {
			s.view.breakOn("FETCH (UID): %v", err)
		}
	}
}

// selectedLost handles the loss of the selected backend while cmd was in
// flight on it: the mailbox is selected again where the directory now
// places it, and cmd is run again there (by again, which must not retry)
// if that cannot change anything; otherwise its outcome is unknown and it
// fails, never reporting OK.
func (s *session) selectedLost(cmd *Command, bc *backendConn, err error, again func() bool) bool {
	s.log.Warn("selected backend lost", "backend_id", bc.id, "err", err)
	s.dropBackend(bc.id)
	if s.torn {
		return s.byeLost(err)
	}
	expunged, err := s.reselect()
	if err != nil {
		return s.byeLost(err)
	}
	if !rerunnable(cmd) || (expunged && usesSeqNumbers(cmd)) {
		s.changed(cmd.Tag)
		return true
	}
	return again()
}

// changed answers a command whose backend went away under it.
func (s *session) changed(tag string) {
	s.tagged(tag, "NO", "[UNAVAILABLE] mail store changed; try again")
}

// byeLost ends the session after its selected mailbox could not be
// restored. After a response was cut off half sent, not even BYE can be
// said: the client's stream is out of step.
func (s *session) byeLost(err error) bool {
	s.log.Warn("selected mailbox lost", "err", err)
	if s.selected != nil {
		s.dropBackend(s.selected.id)
	}
	s.clearView()
	if s.torn {
		return false
	}
	if errors.Is(err, errViewLost) {
		s.untagged("BYE [UNAVAILABLE] the selected mailbox changed; please reconnect")
	} else {
		s.untagged("BYE mail store unavailable; please reconnect")
	}
	s.flush()
	return false
}

// subcommand is a command's name, with UID's subcommand ("UID FETCH").
func subcommand(cmd *Command) string {
	if cmd.Name != "UID" {
		return cmd.Name
	}
	sub, err := cmd.argReader().atom()
	if err != nil {
		return cmd.Name
	}
	return "UID " + sub
}

// rerunnable commands change nothing, so running one again on a new
// backend cannot do twice what was done once.
func rerunnable(cmd *Command) bool {
	switch subcommand(cmd) {
	case "NOOP", "CHECK", "FETCH", "SEARCH", "UID FETCH", "UID SEARCH",
		"SORT", "THREAD", "UID SORT", "UID THREAD":
		return true
	}
	return false
}

// usesSeqNumbers: such a command names messages by sequence number, which
// EXPUNGE responses sent before it ran would have shifted.
func usesSeqNumbers(cmd *Command) bool {
	switch subcommand(cmd) {
	case "FETCH", "STORE", "SEARCH", "COPY", "MOVE", "SORT", "THREAD":
		return true
	}
	return false
}
