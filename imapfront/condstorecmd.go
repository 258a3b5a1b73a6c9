package imapfront

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/condstore"
)

// The CONDSTORE forms of FETCH and STORE (RFC 7162 sections 3.1.3 and
// 3.1.4), which the frontend runs: the backend gets FETCH without MODSEQ
// and CHANGEDSINCE, and a STORE of a CONDSTORE session is one transaction
// of the spool through the cluster API, compare included.

// numRange is the numbers from lo to hi, both included.
type numRange struct{ lo, hi uint32 }

// parseSet reads a sequence set (RFC 3501 section 9) in which * is star,
// as ascending ranges that do not overlap.
func parseSet(set string, star uint32) ([]numRange, error) {
	if !isSeqSet(set) || set == "" {
		return nil, fmt.Errorf("%w: invalid set %q", ErrSyntax, set)
	}
	num := func(s string) uint32 {
		if s == "*" {
			return star
		}
		n, _ := strconv.ParseUint(s, 10, 32)
		return uint32(n)
	}
	var out []numRange
	for _, part := range strings.Split(set, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		r := numRange{num(lo), num(lo)}
		if isRange {
			r.hi = num(hi)
		}
		if r.lo > r.hi {
			r.lo, r.hi = r.hi, r.lo
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b numRange) int { return int64Cmp(a.lo, b.lo) })
	merged := out[:1]
	for _, r := range out[1:] {
		last := &merged[len(merged)-1]
		if uint64(r.lo) <= uint64(last.hi)+1 {
			last.hi = max(last.hi, r.hi)
			continue
		}
		merged = append(merged, r)
	}
	return merged, nil
}

func int64Cmp(a, b uint32) int { return int(int64(a) - int64(b)) }

// target is a message of the view a command names: its sequence number
// and UID.
type target struct{ seq, uid uint32 }

// targets is the messages of the view that set names, by UID when byUID.
func (v *mboxView) targets(set string, byUID bool) ([]target, error) {
	var star uint32
	if byUID {
		star = max(v.top, 1)
		if len(v.uids) > 0 {
			star = v.uids[len(v.uids)-1]
		}
	} else {
		star = uint32(len(v.uids))
	}
	ranges, err := parseSet(set, star)
	if err != nil {
		return nil, err
	}
	var out []target
	for _, r := range ranges {
		if byUID {
			i, _ := slices.BinarySearch(v.uids, r.lo)
			for ; i < len(v.uids) && v.uids[i] <= r.hi; i++ {
				out = append(out, target{uint32(i + 1), v.uids[i]})
			}
			continue
		}
		for seq := max(r.lo, 1); seq <= r.hi && int(seq) <= len(v.uids); seq++ {
			out = append(out, target{seq, v.uids[seq-1]})
		}
	}
	return out, nil
}

// uidRanges is the UIDs from the first target to the last of each run of
// consecutive sequence numbers: with no message between them in the
// view, the range names no other message.
func uidRanges(ts []target) []condstore.Range {
	var out []condstore.Range
	for i := 0; i < len(ts); {
		j := i
		for j+1 < len(ts) && ts[j+1].seq == ts[j].seq+1 {
			j++
		}
		out = append(out, condstore.Range{First: ts[i].uid, Last: ts[j].uid})
		i = j + 1
	}
	return out
}

// targetSet writes ts (in order) as a set of UIDs or of sequence numbers,
// a range for each run of consecutive sequence numbers.
func targetSet(ts []target, byUID bool) string {
	var b strings.Builder
	for i := 0; i < len(ts); {
		j := i
		for j+1 < len(ts) && ts[j+1].seq == ts[j].seq+1 {
			j++
		}
		lo, hi := ts[i].seq, ts[j].seq
		if byUID {
			lo, hi = ts[i].uid, ts[j].uid
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(lo), 10))
		if j > i {
			b.WriteString(":" + strconv.FormatUint(uint64(hi), 10))
		}
		i = j + 1
	}
	return b.String()
}

// fetchItemsSetSeen reports whether items (a FETCH's, upper-cased) may
// set \Seen, so that the response carries FLAGS.
func fetchItemsShowFlags(items []string) bool {
	for _, it := range items {
		switch {
		case it == "FLAGS", it == "ALL", it == "FAST", it == "FULL", it == "RFC822", it == "RFC822.TEXT",
			strings.HasPrefix(it, "BODY["), strings.HasPrefix(it, "BINARY["):
			return true
		}
	}
	return false
}

// cmdFetch is FETCH and UID FETCH (a after UID FETCH's name) in a session
// that offers CONDSTORE.
func (s *session) cmdFetch(cmd *Command, byUID, retry bool) bool {
	if rePreviewLazy.Match(cmd.Raw) {
		// PREVIEW (LAZY) lets the server say NIL when a preview is dear
		// (RFC 8970 section 3.1); Rookery gives it anyway.
		c := *cmd
		c.Raw = rePreviewLazy.ReplaceAll(cmd.Raw, []byte("PREVIEW"))
		cmd = &c
	}
	a := argsAfter(cmd, byUID)
	set, err := a.atom()
	var items []string
	if err == nil {
		items, err = a.list(true)
	}
	var since uint64
	changedSince, vanished := false, false
	if err == nil && a.pos < a.end {
		var mods []string
		if mods, err = a.list(false); err == nil {
			since, vanished, err = fetchModifiers(mods)
			changedSince = true
		}
		if err == nil && vanished && (!byUID || !s.cs.qresync) {
			// RFC 7162 section 3.2.6.
			err = fmt.Errorf("%w: VANISHED needs UID FETCH and QRESYNC enabled", ErrSyntax)
		}
	}
	if err == nil {
		err = a.done()
	}
	if err != nil && !s.cs.on {
		return s.passThrough(cmd) // the backend's to answer, as before
	}
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	// The items go on as the client wrote them (a section's header names
	// come back as written); upper is for looking at them. MODSEQ,
	// EMAILID and THREADID are the frontend's.
	var upper, keep []string
	var extra fetchExtras
	for _, it := range items {
		switch strings.ToUpper(it) {
		case "MODSEQ":
			extra.modseq = true
		case "EMAILID":
			extra.emailID = true
		case "THREADID":
			extra.threadID = true
		case "PREVIEW":
			extra.preview = true
		case "SAVEDATE":
			extra.saveDate = true
		default:
			upper = append(upper, strings.ToUpper(it))
			keep = append(keep, it)
		}
	}
	if !extra.modseq && !changedSince && !s.cs.on && !extra.any() {
		return s.passThrough(cmd)
	}
	if extra.modseq || changedSince {
		if err := s.enableCondstore(); err != nil {
			s.fail(cmd.Tag, err)
			return true
		}
	}
	// CHANGEDSINCE implies MODSEQ. A response with FLAGS gets MODSEQ
	// from withModSeq; one without, from the read below.
	extra.modseq = (extra.modseq || changedSince) && !fetchItemsShowFlags(upper)
	if len(upper) == 0 {
		upper, keep = append(upper, "UID"), append(keep, "UID")
	}
	itemText := "(" + strings.Join(keep, " ") + ")"
	if len(upper) == 1 && (upper[0] == "ALL" || upper[0] == "FAST" || upper[0] == "FULL") {
		itemText = keep[0] // a macro stands alone
	}
	name := "FETCH"
	if byUID {
		name = "UID FETCH"
	}
	if extra.any() {
		s.cmdEdit = func(line []byte) []byte { return s.withFetchExtras(line, extra) }
	}
	read := func(ranges []condstore.Range, since uint64) (condstore.ReadReply, error) {
		return s.readModSeqs(condstore.ReadRequest{UIDs: ranges, Since: since, GUIDs: extra.emailID,
			Previews: extra.preview, SaveDates: extra.saveDate})
	}
	if set == "$" {
		// The saved search result (RFC 5182) is the backend's: the
		// command goes as it is, and each response's flags are read as
		// it comes.
		if changedSince {
			s.tagged(cmd.Tag, "NO", "[CANNOT] CHANGEDSINCE with $ is not supported")
			return true
		}
		s.cs.shown = nil // each message it names is shown
		if extra.reads() || s.cs.on && fetchItemsShowFlags(upper) {
			if _, err := read(allUIDs, 0); err != nil {
				return s.condstoreFailed(cmd, err, retry, func() bool { return s.cmdFetch(cmd, byUID, false) })
			}
		}
		text := fmt.Sprintf("%s %s $ %s\r\n", cmd.Tag, name, itemText)
		return s.passThrough(&Command{Tag: cmd.Tag, Name: cmd.Name, Raw: []byte(text)})
	}
	ts, err := s.view.targets(set, byUID)
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	outSet := set
	s.mustShow(ts)
	if vanished {
		// The UIDs of the set expunged since, which the view no longer
		// holds (RFC 7162 section 3.2.6), before the FETCHes.
		rs, err := parseSet(set, math.MaxUint32)
		if err != nil {
			s.fail(cmd.Tag, err)
			return true
		}
		r, err := s.readModSeqs(condstore.ReadRequest{UIDs: asRanges(rs), Since: since, Vanished: true})
		if err != nil {
			return s.condstoreFailed(cmd, err, retry, func() bool { return s.cmdFetch(cmd, byUID, false) })
		}
		if set := s.view.vanishedSet(r.Vanished); set != "" {
			s.untagged("VANISHED (EARLIER) %s", set)
		}
	}
	if len(ts) > 0 && (changedSince || extra.reads() || s.cs.on && fetchItemsShowFlags(upper)) {
		r, err := read(uidRanges(ts), since)
		if err != nil {
			return s.condstoreFailed(cmd, err, retry, func() bool { return s.cmdFetch(cmd, byUID, false) })
		}
		if changedSince {
			if ts = changedTargets(ts, r.Messages); len(ts) == 0 {
				s.ok(cmd.Tag, "FETCH completed")
				return true
			}
			outSet = targetSet(ts, byUID)
		}
	}
	// Without CHANGEDSINCE the set goes as the client wrote it, and the
	// backend judges it (a number past the last message, say).
	text := fmt.Sprintf("%s %s %s %s\r\n", cmd.Tag, name, outSet, itemText)
	return s.passThrough(&Command{Tag: cmd.Tag, Name: cmd.Name, Raw: []byte(text)})
}

// fetchExtras are the FETCH items the frontend adds to the backend's
// responses: MODSEQ where they have no FLAGS, EMAILID, THREADID,
// PREVIEW, SAVEDATE.
type fetchExtras struct{ modseq, emailID, threadID, preview, saveDate bool }

func (e fetchExtras) any() bool { return e.reads() || e.threadID }

// reads: the items need a read of the messages.
func (e fetchExtras) reads() bool { return e.modseq || e.emailID || e.preview || e.saveDate }

var rePreviewLazy = regexp.MustCompile(`(?i)\bPREVIEW \(LAZY\)`)

// fetchModifiers reads FETCH's modifiers (RFC 4466): CHANGEDSINCE, and
// QRESYNC's VANISHED after it.
func fetchModifiers(mods []string) (since uint64, vanished bool, err error) {
	if len(mods) < 2 || len(mods) > 3 || !strings.EqualFold(mods[0], "CHANGEDSINCE") ||
		len(mods) == 3 && !strings.EqualFold(mods[2], "VANISHED") {
		return 0, false, fmt.Errorf("%w: unknown FETCH modifier", ErrSyntax)
	}
	n, err := strconv.ParseUint(mods[1], 10, 63)
	if err != nil {
		return 0, false, fmt.Errorf("%w: CHANGEDSINCE: invalid mod-sequence %q", ErrSyntax, mods[1])
	}
	return n, len(mods) == 3, nil
}

// changedTargets is those of ts that msgs (a read, in UID order) names.
func changedTargets(ts []target, msgs []condstore.Message) []target {
	var out []target
	j := 0
	for _, t := range ts {
		for j < len(msgs) && msgs[j].UID < t.uid {
			j++
		}
		if j < len(msgs) && msgs[j].UID == t.uid {
			out = append(out, t)
		}
	}
	return out
}

// argsAfter reads cmd's arguments after its name, and after UID's
// subcommand when byUID.
func argsAfter(cmd *Command, byUID bool) *argReader {
	a := cmd.argReader()
	if byUID {
		a.atom()
	}
	return a
}

// condstoreFailed answers cmd, whose read or store through the selected
// backend's API failed: when the backend no longer holds the mailbox, or
// the directory says it is down or the mailbox moved, as a command whose
// backend was lost (the mailbox is selected again where it is now, and
// again, when set, runs the command there if it changes nothing); else
// with err, the session staying where it is. A STORE whose call failed
// may have been done: it is NO [UNAVAILABLE] either way, never OK.
func (s *session) condstoreFailed(cmd *Command, err error, retry bool, again func() bool) bool {
	lost := errors.Is(err, errMailStoreChanged)
	if errors.Is(err, ErrBackendDown) && s.isSelected() {
		// A backend that died is marked down soon: wait that long for the
		// directory to say so, rather than leave a live one for a slow call.
		deadline := time.Now().Add(s.cfg.BackendTimeout)
		for !s.placementChanged() && time.Now().Before(deadline) {
			s.awaitDirectory(deadline)
		}
		lost = s.placementChanged()
	}
	if !lost || !s.isSelected() {
		s.log.Warn("backend API call failed", "err", err)
		s.fail(cmd.Tag, err)
		return true
	}
	if !retry || again == nil {
		again = func() bool {
			s.changed(cmd.Tag)
			return true
		}
	}
	return s.selectedLost(cmd, s.selected, err, again)
}

// storeRequest is a STORE's arguments.
type storeRequest struct {
	set            string
	op             string
	flags          []string
	unchangedSince uint64
	conditional    bool
}

func readStore(a *argReader) (storeRequest, error) {
	var q storeRequest
	var err error
	if q.set, err = a.atom(); err != nil {
		return q, err
	}
	if a.pos+1 < a.end && a.cmd.Raw[a.pos+1] == '(' {
		mods, err := a.list(false)
		if err != nil {
			return q, err
		}
		if len(mods) != 2 || !strings.EqualFold(mods[0], "UNCHANGEDSINCE") {
			return q, fmt.Errorf("%w: unknown STORE modifier", ErrSyntax)
		}
		if q.unchangedSince, err = strconv.ParseUint(mods[1], 10, 63); err != nil {
			return q, fmt.Errorf("%w: UNCHANGEDSINCE: invalid mod-sequence %q", ErrSyntax, mods[1])
		}
		q.conditional = true
	}
	item, err := a.atom()
	if err != nil {
		return q, err
	}
	item, _ = strings.CutSuffix(item, ".SILENT") // told all the same (storeResponses)
	switch item {
	case "FLAGS":
		q.op = condstore.OpSet
	case "+FLAGS":
		q.op = condstore.OpAdd
	case "-FLAGS":
		q.op = condstore.OpDel
	default:
		return q, fmt.Errorf("%w: unknown STORE item %s", ErrSyntax, item)
	}
	if a.pos+1 < a.end && a.cmd.Raw[a.pos+1] == '(' {
		q.flags, err = a.list(false)
	} else {
		for err == nil && a.pos < a.end {
			var f string
			if f, err = a.astring(); err == nil {
				q.flags = append(q.flags, f)
			}
		}
	}
	if err == nil {
		err = a.done()
	}
	return q, err
}

// cmdStore is STORE and UID STORE (a after UID STORE's name) in a
// session that offers CONDSTORE: for a CONDSTORE session, one
// transaction of the spool, with UNCHANGEDSINCE's compare.
func (s *session) cmdStore(cmd *Command, byUID bool) bool {
	q, err := readStore(argsAfter(cmd, byUID))
	if err != nil && !s.cs.on {
		return s.passThrough(cmd) // the backend's to answer, as before
	}
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	if !q.conditional && !s.cs.on {
		return s.passThrough(cmd)
	}
	if err := s.enableCondstore(); err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	if s.view.readOnly {
		s.tagged(cmd.Tag, "NO", "[CANNOT] Mailbox is read-only")
		return true
	}
	// The rights as the backend checks them before a STORE: from a synced
	// read, so that a revoked grant is seen.
	m, err := s.syncedSelected()
	if err == nil {
		err = s.needFlagRights(m, q.op, q.flags)
	}
	var ts []target
	if err == nil && q.set == "$" {
		err = fmt.Errorf("%w: STORE of $ in a CONDSTORE session", errNotOffered)
	}
	if err == nil && !byUID && seqBeyond(q.set, s.view.count()) {
		err = fmt.Errorf("%w: no message has a sequence number in %s", ErrSyntax, q.set)
	}
	if err == nil {
		ts, err = s.view.targets(q.set, byUID)
	}
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	uids := make([]uint32, len(ts))
	for i, t := range ts {
		uids[i] = t.uid
	}
	flags := withoutRecent(slices.Clone(q.flags))
	var reply condstore.StoreReply
	switch {
	case q.conditional && q.unchangedSince == 0:
		// Every message has a modseq above 0: each fails, and nothing
		// changes (RFC 7162 section 3.1.3).
		reply.Failed = uids
	case len(uids) > 0:
		if reply, err = s.storeFlags(condstore.StoreRequest{UIDs: uids, Op: q.op, Flags: flags, UnchangedSince: q.unchangedSince}); err != nil {
			// Not run again: it may have been done.
			return s.condstoreFailed(cmd, err, false, nil)
		}
	}
	if err := s.storeResponses(ts, reply); err != nil {
		return s.backendLost(cmd.Tag, s.selected, err)
	}
	if len(reply.Failed) == 0 {
		s.ok(cmd.Tag, "STORE completed")
		return true
	}
	failedUID := make(map[uint32]bool, len(reply.Failed))
	for _, u := range reply.Failed {
		failedUID[u] = true
	}
	var failed []target
	for _, t := range ts {
		if failedUID[t.uid] {
			failed = append(failed, t)
		}
	}
	s.tagged(cmd.Tag, "OK", "[MODIFIED %s] Conditional STORE failed", targetSet(failed, byUID))
	return true
}

// syncedSelected is the selected mailbox's record in a synced read of the
// directory, if the user may still read it.
func (s *session) syncedSelected() (*fsm.Mailbox, error) {
	v, err := s.read(directory.Synced)
	if err != nil {
		return nil, err
	}
	m, ok := v.MailboxByID(s.view.id)
	if !ok || !fsm.HasRight(s.user, m, 'l') && !fsm.HasRight(s.user, m, 'r') {
		return nil, fmt.Errorf("%w: mailbox %d", fsm.ErrNoMailbox, s.view.id)
	}
	if !fsm.HasRight(s.user, m, 'r') {
		return nil, fmt.Errorf("%w: r on %s", ErrNoRights, m.Name)
	}
	return m, nil
}

// needFlagRights checks the rights a change of flags needs (RFC 4314
// section 4): s for \Seen, t for \Deleted, w for any other. FLAGS, which
// replaces them all, may take away any flag: it needs all three.
func (s *session) needFlagRights(m *fsm.Mailbox, op string, flags []string) error {
	have := fsm.Rights(s.user, m)
	if op == condstore.OpSet {
		flags = append(slices.Clip(flags), `\Seen`, `\Deleted`, "$any")
	}
	for _, f := range flags {
		want := byte('w')
		switch {
		case strings.EqualFold(f, `\Seen`):
			want = 's'
		case strings.EqualFold(f, `\Deleted`):
			want = 't'
		case strings.EqualFold(f, `\Recent`):
			continue
		}
		if !strings.ContainsRune(have, rune(want)) {
			return fmt.Errorf("%w: %c", ErrNoRights, want)
		}
	}
	return nil
}

// seqBeyond reports whether set names a sequence number above n (other
// than by "*").
func seqBeyond(set string, n int) bool {
	for _, part := range strings.Split(set, ",") {
		for _, end := range strings.Split(part, ":") {
			if v, err := strconv.ParseUint(end, 10, 32); err == nil && v > uint64(n) {
				return true
			}
		}
	}
	return false
}

// maxStoreUIDs bounds the UIDs of one call of the API: a STORE of more
// is several calls, as a STORE changes each message on its own.
const maxStoreUIDs = 100_000

// storeFlags runs q on the selected mailbox's primary.
func (s *session) storeFlags(q condstore.StoreRequest) (condstore.StoreReply, error) {
	addr, err := s.apiAddr(s.selected.id)
	if err != nil {
		return condstore.StoreReply{}, err
	}
	var r condstore.StoreReply
	for uids := range slices.Chunk(q.UIDs, maxStoreUIDs) {
		part := q
		part.UIDs = uids
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.BackendIdleTimeout)
		got, err := s.cfg.ModSeqs.Store(ctx, addr, s.view.id, part)
		cancel()
		if err != nil {
			return r, modseqError(err)
		}
		r.Messages = append(r.Messages, got.Messages...)
		r.Failed = append(r.Failed, got.Failed...)
	}
	s.remember(r.Messages)
	for _, m := range r.Messages {
		s.cs.highest = max(s.cs.highest, m.ModSeq)
	}
	return r, nil
}

// storeResponses tells the client of the messages a STORE changed, each
// with its FLAGS and MODSEQ, through a FETCH of the backend so that the
// flags are those its session shows (\Recent, and keywords it
// announces). Under .SILENT too: RFC 7162 section 3.1.3 asks for MODSEQ
// there, and the flags after the STORE may hold another session's change
// of the same moment, which MODSEQ alone would hide from the client.
func (s *session) storeResponses(ts []target, reply condstore.StoreReply) error {
	stored := make(map[uint32]condstore.Message, len(reply.Messages))
	for _, m := range reply.Messages {
		stored[m.UID] = m
	}
	var shown []target
	for _, t := range ts {
		if _, ok := stored[t.uid]; ok {
			shown = append(shown, t)
		}
	}
	if len(shown) == 0 {
		return nil
	}
	s.mustShow(shown)
	for _, part := range splitSet(targetSet(shown, false), maxFetchSet) {
		tagged, err := s.selected.run("FETCH "+part+" (UID FLAGS)", func(resp []byte) error {
			s.pass(resp)
			return nil
		})
		if err != nil {
			return err
		}
		if status(tagged) != "OK" {
			return fmt.Errorf("%w: FETCH after STORE: %q", ErrBackendProtocol, tagged)
		}
	}
	return nil
}
