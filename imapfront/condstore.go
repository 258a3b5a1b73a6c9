package imapfront

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rookery-mail/rookery/internal/condstore"
)

// CONDSTORE (RFC 7162 section 3.1), answered by the frontend: the
// backends' IMAP library has no modseqs, so the frontend reads a message's
// flags and modseq together from the backend's spool (Config.ModSeqs, one
// spool read each) and writes them into the responses the backend sends.
// The pairing is the point: a MODSEQ is only true of the flags it was set
// with, and a client that keeps a newer modseq beside older flags never
// hears of the change between. So every FETCH response with FLAGS that
// reaches a CONDSTORE client has its FLAGS and its MODSEQ from one read:
// the read the command made first if its flags are those the backend
// shows, else a read made then. The flags shown may so be newer than the
// backend's session has told of; a keyword it has not is announced in a
// FLAGS response first, as RFC 3501 section 7.2.6 asks.

// ModSeqs reads and changes messages' flags with their modseqs on the
// backend whose node's cluster API is at apiAddr (condstore.Remote).
type ModSeqs interface {
	Read(ctx context.Context, apiAddr string, mailbox uint64, q condstore.ReadRequest) (condstore.ReadReply, error)
	Store(ctx context.Context, apiAddr string, mailbox uint64, q condstore.StoreRequest) (condstore.StoreReply, error)
}

// condState is a session's CONDSTORE state.
type condState struct {
	on      bool // CONDSTORE is enabled (RFC 7162 section 3.1)
	qresync bool // and QRESYNC (section 3.2; qresync.go)
	// highest is the selected mailbox's highest modseq as last read: all
	// that changed since is above it.
	highest uint64
	// read holds what the command in progress read, by UID.
	read map[uint32]condstore.Message
	// shown holds the modseq each message was last shown with (up to
	// maxShown of them): a FETCH of flags that shows the same again,
	// unasked, is left out. The backend's session hears of a STORE made
	// through the API as of another session's and sends its flags again.
	shown map[uint32]uint64
	// answer holds the messages the command in progress must show, even
	// as they were last shown.
	answer map[uint32]bool
}

// maxShown bounds the messages whose last modseq shown a session keeps.
const maxShown = 4096

// condstoreOffered reports whether the frontend offers CONDSTORE.
func (s *session) condstoreOffered() bool { return s.cfg.ModSeqs != nil }

// enableCondstore turns CONDSTORE on for the session, as ENABLE or the
// first command that uses it does; a mailbox selected meanwhile gets its
// HIGHESTMODSEQ (RFC 7162 section 3.1).
func (s *session) enableCondstore() error {
	if s.cs.on {
		return nil
	}
	s.cs.on = true
	if !s.isSelected() {
		return nil
	}
	r, err := s.readModSeqs(condstore.ReadRequest{})
	if err != nil {
		return err
	}
	s.untagged("OK [HIGHESTMODSEQ %d] Highest", r.HighestModSeq)
	return nil
}

// apiAddr is the cluster API address of backend id.
func (s *session) apiAddr(id string) (string, error) {
	v, err := s.local()
	if err != nil {
		return "", err
	}
	b, ok := v.Backend(id)
	if !ok || b.APIAddr == "" {
		return "", fmt.Errorf("%w: backend %s has no API address", ErrBackendDown, id)
	}
	return b.APIAddr, nil
}

// readModSeqsOf reads messages of mailbox on backend id.
func (s *session) readModSeqsOf(id string, mailbox uint64, q condstore.ReadRequest) (condstore.ReadReply, error) {
	addr, err := s.apiAddr(id)
	if err != nil {
		return condstore.ReadReply{}, err
	}
	// A read is quick: one spool transaction. A backend that takes long
	// is as good as lost for it.
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.BackendTimeout)
	defer cancel()
	r, err := s.cfg.ModSeqs.Read(ctx, addr, mailbox, q)
	if err != nil {
		return r, modseqError(err)
	}
	return r, nil
}

// readModSeqs reads messages of the selected mailbox and keeps what it
// found for the command in progress.
func (s *session) readModSeqs(q condstore.ReadRequest) (condstore.ReadReply, error) {
	r, err := s.readModSeqsOf(s.selected.id, s.view.id, q)
	if err != nil {
		return r, err
	}
	s.cs.highest = max(s.cs.highest, r.HighestModSeq)
	s.remember(r.Messages)
	return r, nil
}

func (s *session) remember(msgs []condstore.Message) {
	if len(msgs) == 0 {
		return
	}
	if s.cs.read == nil {
		s.cs.read = make(map[uint32]condstore.Message, len(msgs))
	}
	for _, m := range msgs {
		if old, ok := s.cs.read[m.UID]; !ok || old.ModSeq <= m.ModSeq {
			s.cs.read[m.UID] = m
		}
	}
}

// forgetReads ends the command's reads: the next command reads afresh.
func (s *session) forgetReads() { s.cs.read, s.cs.answer = nil, nil }

// mustShow marks ts as messages the command in progress shows.
func (s *session) mustShow(ts []target) {
	s.cs.answer = make(map[uint32]bool, len(ts))
	for _, t := range ts {
		s.cs.answer[t.uid] = true
	}
}

func modseqError(err error) error {
	switch {
	case errors.Is(err, condstore.ErrInvalid):
		return fmt.Errorf("%w: %v", ErrSyntax, err)
	case errors.Is(err, condstore.ErrNoMailbox), errors.Is(err, condstore.ErrNotPrimary):
		return fmt.Errorf("%w: %v", errMailStoreChanged, err)
	}
	return fmt.Errorf("%w: %v", ErrBackendDown, err)
}

// errMailStoreChanged: the mailbox is no longer where the session has it
// selected (a failover or a move under way).
var errMailStoreChanged = errors.New("imapfront: mailbox moved under the session")

// errNotOffered: a form of a command the frontend does not run.
var errNotOffered = errors.New("imapfront: not offered")

// allUIDs is every UID.
var allUIDs = []condstore.Range{{First: 1, Last: math.MaxUint32}}

// fetchFlags finds, in line (the first line of a response), a FETCH
// response's UID and FLAGS as the backends write them, UID first: flags
// is the list's contents, line[open:end] the list with its parentheses.
func fetchFlags(line []byte) (seq, uid uint32, flags []byte, open, end int, ok bool) {
	rest, found := bytes.CutPrefix(line, []byte("* "))
	if !found {
		return
	}
	n, word, found := numbered(rest)
	if !found || !equalFoldASCII(string(word), "FETCH") || n <= 0 || n > math.MaxUint32 {
		return
	}
	at := len(line) - len(rest) + bytes.IndexByte(rest, ' ') + 1 + len("FETCH")
	if !bytes.HasPrefix(line[at:], []byte(" (")) {
		return
	}
	at += 2
	if u, isUID := bytes.CutPrefix(line[at:], []byte("UID ")); isUID {
		i := 0
		for i < len(u) && u[i] >= '0' && u[i] <= '9' {
			i++
		}
		v, err := strconv.ParseUint(string(u[:i]), 10, 32)
		if err != nil || i == len(u) || u[i] != ' ' {
			return
		}
		uid = uint32(v)
		at += len("UID ") + i + 1
	}
	if !bytes.HasPrefix(line[at:], []byte("FLAGS (")) {
		return
	}
	open = at + len("FLAGS ")
	closeAt := bytes.IndexByte(line[open:], ')')
	if closeAt < 0 {
		return
	}
	end = open + closeAt + 1
	return uint32(n), uid, line[open+1 : end-1], open, end, true
}

// withModSeq rewrites line, the first line of a response on its way to a
// CONDSTORE client, when it is a FETCH response with FLAGS: flags and
// MODSEQ from one read of the spool, after a FLAGS response for any
// keyword the client has not been told of.
func (s *session) withModSeq(line []byte) []byte {
	if !s.cs.on || !s.isSelected() {
		return line
	}
	seq, uid, shown, open, end, ok := fetchFlags(line)
	if !ok {
		return line
	}
	if uid == 0 {
		if int(seq) > len(s.view.uids) {
			return line
		}
		uid = s.view.uids[seq-1]
	}
	m, found, err := s.modseqFor(uid, strings.Fields(string(shown)))
	if err != nil {
		// No MODSEQ can be told for these flags: the backend is left as
		// lost, and the command fails or runs again where the mailbox is.
		s.log.Warn("reading modseqs failed", "backend_id", s.selected.id, "err", err)
		s.selected.close()
		return nil
	}
	if !found && !s.cs.answer[uid] {
		// Gone from the spool, and not asked for: the client will hear of
		// its expunge, which makes any flags of it moot.
		return nil
	}
	if !found {
		// Asked for: RFC 3501 lets a server show it until the client hears
		// of its expunge. Its flags were last set at or below the modseq
		// read before it went.
		m = condstore.Message{UID: uid, ModSeq: s.goneModSeq(uid), Flags: withoutRecent(strings.Fields(string(shown)))}
	}
	if found {
		last, seen := s.cs.shown[uid]
		switch {
		case s.cs.answer[uid]:
			delete(s.cs.answer, uid)
		case seen && last == m.ModSeq && string(line[end:]) == ")\r\n":
			return nil // the client has it
		}
		if seen || len(s.cs.shown) < maxShown {
			if s.cs.shown == nil {
				s.cs.shown = make(map[uint32]uint64)
			}
			s.cs.shown[uid] = m.ModSeq
		}
	}
	var out bytes.Buffer
	if fresh := s.view.unknownKeywords(m.Flags); len(fresh) > 0 {
		s.view.flags = append(s.view.flags, fresh...)
		fmt.Fprintf(&out, "* FLAGS (%s)\r\n", strings.Join(s.view.flags, " "))
	}
	flags := m.Flags
	if hasRecent(strings.Fields(string(shown))) {
		flags = append(slices.Clip(flags), `\Recent`)
	}
	out.Write(line[:open])
	fmt.Fprintf(&out, "(%s) MODSEQ (%d)", strings.Join(flags, " "), m.ModSeq)
	out.Write(line[end:])
	return out.Bytes()
}

// modseqFor is uid's flags and modseq from one read: the command's read,
// if the flags the backend shows are those, else a read now. found is
// false for a message the spool no longer has.
func (s *session) modseqFor(uid uint32, shown []string) (m condstore.Message, found bool, err error) {
	if m, ok := s.cs.read[uid]; ok && s.view.sameFlags(shown, m.Flags) {
		return m, true, nil
	}
	// What changed since the last read, which is often this message and
	// the next ones the backend will show (another session's STORE).
	if s.cs.highest > 0 {
		if _, err := s.readModSeqs(condstore.ReadRequest{UIDs: allUIDs, Since: s.cs.highest}); err != nil {
			return m, false, err
		}
		if m, ok := s.cs.read[uid]; ok && s.view.sameFlags(shown, m.Flags) {
			return m, true, nil
		}
	}
	r, err := s.readModSeqs(condstore.ReadRequest{UIDs: []condstore.Range{{First: uid, Last: uid}}})
	if err != nil || len(r.Messages) != 1 {
		return m, false, err
	}
	return r.Messages[0], true, nil
}

// goneModSeq is a modseq to show beside the last flags of uid, a message
// no longer in the spool: the highest read before, which its flags
// were set at or before.
func (s *session) goneModSeq(uid uint32) uint64 {
	if m, ok := s.cs.read[uid]; ok {
		return m.ModSeq
	}
	return max(s.cs.highest, 1)
}

func hasRecent(flags []string) bool {
	return slices.ContainsFunc(flags, func(f string) bool { return strings.EqualFold(f, `\Recent`) })
}

func withoutRecent(flags []string) []string {
	return slices.DeleteFunc(flags, func(f string) bool { return strings.EqualFold(f, `\Recent`) })
}

// sameFlags reports whether shown, the flags a backend wrote, are those
// of read, less \Recent and less keywords the client has not been told of
// (which the backend leaves out until it has).
func (v *mboxView) sameFlags(shown, read []string) bool {
	shown = withoutRecent(slices.Clone(shown))
	for _, f := range shown {
		if !containsFold(read, f) {
			return false
		}
	}
	for _, f := range read {
		if !containsFold(shown, f) && (strings.HasPrefix(f, `\`) || v.knowsFlag(f)) {
			return false
		}
	}
	return true
}

func (v *mboxView) knowsFlag(f string) bool { return containsFold(v.flags, f) }

// unknownKeywords is those of flags the client has not had in a FLAGS
// response.
func (v *mboxView) unknownKeywords(flags []string) []string {
	var out []string
	for _, f := range flags {
		if !strings.HasPrefix(f, `\`) && !v.knowsFlag(f) && !containsFold(out, f) {
			out = append(out, f)
		}
	}
	return out
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
}

// editing sets bc's response edit for the responses the session relays
// from it to the client; the returned func takes it away.
func (s *session) editing(bc *backendConn) (done func()) {
	bc.edit = s.responseEdit(bc)
	return func() { bc.edit = nil }
}

// responseEdit is what to rewrite in the responses bc sends the client:
// nil when nothing.
func (s *session) responseEdit(bc *backendConn) func([]byte) []byte {
	if s.cmdEdit == nil && (bc == nil || bc != s.selected || !s.isSelected()) {
		return nil
	}
	return func(line []byte) []byte {
		if bc == s.selected && s.isSelected() {
			if s.view.announces(line) {
				return nil // the view learns the UID (track); the client knows the message from EXISTS
			}
			line = s.withModSeq(s.asVanished(line))
		}
		if s.cmdEdit == nil || len(line) < 2 {
			return line
		}
		// withModSeq may have put a FLAGS response before the line.
		k := 0
		if i := bytes.LastIndex(line[:len(line)-2], []byte("\r\n")); i >= 0 {
			k = i + 2
		}
		return append(slices.Clip(line[:k]), s.cmdEdit(line[k:])...)
	}
}

// selectParams reads SELECT's and EXAMINE's parameters after the mailbox
// name (RFC 4466 section 2.1): CONDSTORE and QRESYNC are the ones known.
// The command goes to the backend without them.
func (s *session) selectParams(cmd *Command, a *argReader) (*Command, bool, *qresyncParam, error) {
	if a.pos >= a.end {
		return cmd, false, nil, nil
	}
	at := a.pos
	if !a.sp() || a.peek() != tokOpen || len(cmd.Lits) > 0 && cmd.Lits[len(cmd.Lits)-1].Marker >= at {
		return cmd, false, nil, fmt.Errorf("%w: SELECT parameters must be a list", ErrSyntax)
	}
	items, err := parseSexps(string(cmd.Raw[a.pos:a.end]))
	if err != nil {
		return cmd, false, nil, err
	}
	if len(items) != 1 || items[0].list == nil {
		return cmd, false, nil, fmt.Errorf("%w: SELECT parameters must be one list", ErrSyntax)
	}
	asked := false
	var q *qresyncParam
	params := items[0].list
	for i := 0; i < len(params); i++ {
		p := params[i]
		switch {
		case strings.EqualFold(p.atom, "CONDSTORE") && s.condstoreOffered():
			asked = true
		case strings.EqualFold(p.atom, "QRESYNC") && s.cs.qresync && q == nil && i+1 < len(params) && params[i+1].list != nil:
			qp, err := readQresyncParam(params[i+1].list)
			if err != nil {
				return cmd, false, nil, err
			}
			q, asked = &qp, true
			i++
		case strings.EqualFold(p.atom, "QRESYNC") && !s.cs.qresync && s.qresyncOffered():
			return cmd, false, nil, fmt.Errorf("%w: QRESYNC is not enabled (ENABLE QRESYNC)", ErrSyntax)
		default:
			return cmd, false, nil, fmt.Errorf("%w: unknown %s parameter %s", ErrSyntax, cmd.Name, p.atom)
		}
	}
	return cutCommand(cmd, at), asked, q, nil
}

// cutCommand is cmd ended at Raw[at], which is outside any literal.
func cutCommand(cmd *Command, at int) *Command {
	out := *cmd
	out.Raw = append(slices.Clip(cmd.Raw[:at]), "\r\n"...)
	out.Lits = nil
	for _, l := range cmd.Lits {
		if l.Marker < at {
			out.Lits = append(out.Lits, l)
		}
	}
	return &out
}

// spoolKey is one search key of a command that the frontend answers
// from the backend's spool, Raw[from:to]: MODSEQ (kind "") matches the
// messages whose modseq is at least modseq; EMAILID and THREADID (RFC
// 8474 section 6) those with that id; SAVEDBEFORE, SAVEDON and
// SAVEDSINCE (RFC 8514 section 4) those whose save date's day (in UTC)
// is before, on or since day, SAVEDATESUPPORTED all.
type spoolKey struct {
	from, to int
	modseq   uint64
	kind     string
	id       string
	day      time.Time
}

// savedDayMatches reports whether a save date on day matches a key of
// kind for want.
func savedDayMatches(kind string, day, want time.Time) bool {
	switch kind {
	case "SAVEDBEFORE":
		return day.Before(want)
	case "SAVEDON":
		return day.Equal(want)
	case "SAVEDSINCE":
		return !day.Before(want)
	}
	return false
}

// targetsAll is every message of the view.
func (v *mboxView) targetsAll() []target {
	out := make([]target, len(v.uids))
	for i, u := range v.uids {
		out[i] = target{uint32(i + 1), u}
	}
	return out
}

// maxSpoolKeys bounds the MODSEQ, EMAILID and THREADID keys of one
// command.
const maxSpoolKeys = 16

// highestUID is the highest UID the client has been told of, expunged
// or not.
func (v *mboxView) highestUID() uint32 {
	if n := len(v.uids); n > 0 {
		return max(v.top, v.uids[n-1])
	}
	return v.top
}

// hasModSeq reports whether keys hold a MODSEQ key.
func hasModSeq(keys []spoolKey) bool {
	return slices.ContainsFunc(keys, func(k spoolKey) bool { return k.kind == "" })
}

// expandSpoolKeys returns cmd, a SEARCH, with each key of keys replaced
// by the UIDs of the messages of the view it matches now, as WITHIN's
// keys are (within.go); a MODSEQ key makes the command's SEARCH
// response end with the highest modseq of what it found (RFC 7162
// section 3.1.5).
func (s *session) expandSpoolKeys(cmd *Command, keys []spoolKey, ret *textEdit, byUID bool) (*Command, []textEdit, error) {
	modseq := hasModSeq(keys)
	if modseq {
		if err := s.enableCondstore(); err != nil {
			return nil, nil, err
		}
	}
	edits := make([]textEdit, 0, len(keys)+1)
	// RETURN (COUNT) answers with the highest modseq of every message it
	// counts, as Dovecot does: the backend is asked for ALL too, which
	// the client did not ask for and does not get.
	opts := []string{}
	if ret != nil {
		opts = strings.Fields(ret.text)
	}
	addAll := modseq && slices.Contains(opts, "COUNT") && !slices.Contains(opts, "ALL")
	if addAll {
		inner := string(cmd.Raw[ret.from+1 : ret.to-1])
		edits = append(edits, textEdit{from: ret.from, to: ret.to, text: "(" + inner + " ALL)"})
	}
	allAsked := len(opts) == 0 || slices.Contains(opts, "ALL") || addAll
	if len(keys) > maxSpoolKeys {
		return nil, nil, fmt.Errorf("%w: at most %d MODSEQ, EMAILID and THREADID keys a command", ErrLimit, maxSpoolKeys)
	}
	// One read for every MODSEQ key, from the lowest, and one for every
	// EMAILID key.
	var changed []condstore.Message
	if modseq {
		lowest := uint64(math.MaxUint64)
		for _, k := range keys {
			if k.kind == "" {
				lowest = min(lowest, k.modseq)
			}
		}
		r, err := s.readModSeqs(condstore.ReadRequest{UIDs: allUIDs, Since: max(lowest, 1) - 1})
		if err != nil {
			return nil, nil, err
		}
		changed = r.Messages
	}
	var withGUIDs, withDates []condstore.Message
	readGUIDs, readDates := false, false
	today := time.Now().UTC().Truncate(24 * time.Hour)
	for _, k := range keys {
		var ts []target
		// A message that comes after the read has a modseq above every
		// one there was, and is saved today: it matches MODSEQ, also
		// under NOT, and a save date key that today matches.
		newer := k.kind == "" || k.kind == "SAVEDATESUPPORTED" || savedDayMatches(k.kind, today, k.day)
		switch k.kind {
		case "SAVEDATESUPPORTED":
			// Every mailbox keeps save dates (RFC 8514 section 4).
			ts = s.view.targetsAll()
		case "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE":
			if !readDates {
				r, err := s.readModSeqs(condstore.ReadRequest{UIDs: allUIDs, SaveDates: true})
				if err != nil {
					return nil, nil, err
				}
				withDates, readDates = r.Messages, true
			}
			var match []condstore.Message
			for _, m := range withDates {
				if m.SavedAt != 0 && savedDayMatches(k.kind, time.Unix(m.SavedAt, 0).UTC().Truncate(24*time.Hour), k.day) {
					match = append(match, m)
				}
			}
			ts = s.view.messages(match)
		case "":
			var match []condstore.Message
			for _, m := range changed {
				if m.ModSeq >= k.modseq {
					match = append(match, m)
				}
			}
			ts = s.view.messages(match)
		case "EMAILID":
			if !readGUIDs {
				r, err := s.readModSeqs(condstore.ReadRequest{UIDs: allUIDs, GUIDs: true})
				if err != nil {
					return nil, nil, err
				}
				withGUIDs, readGUIDs = r.Messages, true
			}
			var same []condstore.Message
			for _, m := range withGUIDs {
				if m.GUID != "" && emailID(m.GUID) == k.id {
					same = append(same, m)
				}
			}
			ts = s.view.messages(same)
		}
		set := targetSet(ts, true)
		if top := s.view.highestUID(); newer && top < math.MaxUint32 {
			set = strings.TrimPrefix(set+","+strconv.FormatUint(uint64(top)+1, 10)+":"+strconv.FormatUint(math.MaxUint32, 10), ",")
		}
		key := "NOT ALL" // and THREADID's: Rookery keeps no threads
		if set != "" {
			key = "UID " + set
		}
		edits = append(edits, textEdit{from: k.from, to: k.to, text: key})
	}
	out := splice(cmd, edits)
	if commandText(out) > maxRelayedText {
		return nil, nil, fmt.Errorf("%w: the search matches too many separate runs of messages", ErrLimit)
	}
	if modseq {
		s.cmdEdit = func(line []byte) []byte { return s.searchWithModSeq(line, byUID, allAsked, addAll) }
	}
	return out, edits, nil
}

// messages is those of msgs (in UID order) that the view holds.
func (v *mboxView) messages(msgs []condstore.Message) []target {
	var out []target
	for _, m := range msgs {
		if i, ok := slices.BinarySearch(v.uids, m.UID); ok {
			out = append(out, target{uint32(i + 1), m.UID})
		}
	}
	return out
}

// searchWithModSeq adds to a SEARCH or ESEARCH response the highest
// modseq of the messages it returns (RFC 7162 sections 3.1.5 and
// 3.1.10), none when it returns none: those of ALL when byAll, else of
// MIN and MAX. dropAll leaves out ALL, which only the frontend asked for.
func (s *session) searchWithModSeq(line []byte, byUID, byAll, dropAll bool) []byte {
	body, crlf := bytes.CutSuffix(line, []byte("\r\n"))
	if !crlf {
		return line
	}
	var uids []uint32
	switch {
	case bytes.HasPrefix(body, []byte("* SEARCH")), bytes.HasPrefix(body, []byte("* SORT")):
		_, list, _ := bytes.Cut(body[2:], []byte(" "))
		for _, f := range strings.Fields(string(list)) {
			uids = s.view.namedUIDs(uids, f, byUID)
		}
	case bytes.HasPrefix(body, []byte("* ESEARCH")):
		fields := strings.Fields(string(body))
		kept := fields[:0:0]
		for i := 0; i < len(fields); i++ {
			item := strings.ToUpper(fields[i])
			if i+1 < len(fields) && (item == "ALL" && byAll || (item == "MIN" || item == "MAX") && !byAll) {
				uids = s.view.namedUIDs(uids, fields[i+1], byUID)
			}
			if item == "ALL" && dropAll && i+1 < len(fields) {
				i++
				continue
			}
			kept = append(kept, fields[i])
		}
		body = []byte(strings.Join(kept, " "))
	default:
		return line
	}
	if len(uids) == 0 {
		return append(body, "\r\n"...)
	}
	highest, err := s.highestOf(uids)
	if err != nil {
		s.log.Warn("reading modseqs failed", "backend_id", s.selected.id, "err", err)
		return append(body, "\r\n"...)
	}
	if bytes.HasPrefix(body, []byte("* ESEARCH")) {
		return fmt.Appendf(slices.Clip(body), " MODSEQ %d\r\n", highest)
	}
	return fmt.Appendf(slices.Clip(body), " (MODSEQ %d)\r\n", highest)
}

// namedUIDs adds to uids those of the view that set (sequence numbers, or
// UIDs when byUID) names.
func (v *mboxView) namedUIDs(uids []uint32, set string, byUID bool) []uint32 {
	ts, err := v.targets(set, byUID)
	if err != nil {
		return uids
	}
	for _, t := range ts {
		uids = append(uids, t.uid)
	}
	return uids
}

// highestOf is the highest modseq of the messages uids, from the
// command's reads and, for the others, one more.
func (s *session) highestOf(uids []uint32) (uint64, error) {
	var highest uint64
	var missing []condstore.Range
	for _, u := range uids {
		if m, ok := s.cs.read[u]; ok {
			highest = max(highest, m.ModSeq)
		} else {
			missing = append(missing, condstore.Range{First: u, Last: u})
		}
	}
	if len(missing) == 0 {
		return highest, nil
	}
	// As ranges of the view's messages, which name no other message.
	slices.SortFunc(missing, func(a, b condstore.Range) int { return int64Cmp(a.First, b.First) })
	missing = slices.Compact(missing)
	msgs := make([]condstore.Message, len(missing))
	for i, r := range missing {
		msgs[i].UID = r.First
	}
	r, err := s.readModSeqs(condstore.ReadRequest{UIDs: uidRanges(s.view.messages(msgs))})
	if err != nil {
		return 0, err
	}
	for _, m := range r.Messages {
		highest = max(highest, m.ModSeq)
	}
	return highest, nil
}

// withFetchExtras adds to the FETCH responses of the command's messages,
// "* n FETCH (UID u" as the backends write them (UID first), the items
// the frontend answers from the command's read: MODSEQ when the response
// has no FLAGS (withModSeq gives it to those), EMAILID, THREADID.
func (s *session) withFetchExtras(line []byte, e fetchExtras) []byte {
	rest, ok := bytes.CutPrefix(line, []byte("* "))
	if !ok {
		return line
	}
	_, word, ok := numbered(rest)
	if !ok || !equalFoldASCII(string(word), "FETCH") {
		return line
	}
	i := bytes.Index(line, []byte(" FETCH (UID "))
	if i < 0 {
		return line
	}
	at := i + len(" FETCH (UID ")
	j := at
	for j < len(line) && line[j] >= '0' && line[j] <= '9' {
		j++
	}
	uid, err := strconv.ParseUint(string(line[at:j]), 10, 32)
	if err != nil {
		return line
	}
	m, ok := s.cs.read[uint32(uid)]
	if !ok {
		return line
	}
	var add []byte
	if e.modseq && !bytes.HasPrefix(line[j:], []byte(" FLAGS (")) {
		add = fmt.Appendf(add, " MODSEQ (%d)", m.ModSeq)
	}
	if e.emailID && m.GUID != "" {
		add = fmt.Appendf(add, " EMAILID (%s)", emailID(m.GUID))
	}
	if e.threadID {
		add = append(add, " THREADID NIL"...)
	}
	if e.preview {
		add = append(add, " PREVIEW "...)
		add = s.appendNString(add, m.Preview)
	}
	if e.saveDate {
		// NIL for a message saved before the backends kept the date
		// (RFC 8514 section 3).
		add = append(add, " SAVEDATE "...)
		if m.SavedAt == 0 {
			add = append(add, "NIL"...)
		} else {
			add = append(add, '"')
			add = time.Unix(m.SavedAt, 0).UTC().AppendFormat(add, "02-Jan-2006 15:04:05 -0700")
			add = append(add, '"')
		}
	}
	return append(append(slices.Clip(line[:j]), add...), line[j:]...)
}

// appendNString writes v as IMAP's nstring: NIL, a quoted string, or a
// literal for text a quoted string cannot hold (8-bit, unless the client
// enabled UTF8=ACCEPT).
func (s *session) appendNString(b []byte, v *string) []byte {
	if v == nil {
		return append(b, "NIL"...)
	}
	quoted := true
	for i := 0; i < len(*v); i++ {
		c := (*v)[i]
		if c == '\r' || c == '\n' || c == 0 || c >= 0x80 && !s.utf8 {
			quoted = false
			break
		}
	}
	if !quoted {
		b = fmt.Appendf(b, "{%d}\r\n", len(*v))
		return append(b, *v...)
	}
	b = append(b, '"')
	for i := 0; i < len(*v); i++ {
		if c := (*v)[i]; c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, (*v)[i])
	}
	return append(b, '"')
}
