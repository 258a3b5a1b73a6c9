package imapfront

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// WITHIN (RFC 5032): the search keys OLDER n and YOUNGER n match messages
// whose internal date is more than n seconds before the command, or at
// most n seconds. The backends' IMAP library has no such keys, so the
// frontend puts in each one's place the UIDs of the messages it matches,
// found on the selected backend with two internal commands read to their
// end: a SEARCH by day (a superset: two days more on either side of the
// cut-off, as an internal date's day is in its own zone, up to 24:59 hours
// off) with the last message, and a FETCH of UID and INTERNALDATE of what
// it found, judged to the second here.
// Both are the non-UID forms, during which the backend sends no EXPUNGE:
// sequence numbers stay as they were, so messages next to each other by
// number are next to each other by UID, with none between them, and each
// run of them is written as one range of UIDs. A key that matches
// nothing becomes NOT ALL. Then the command, with its other keys, goes
// on as the client wrote it (SEARCH to the backend, SORT and THREAD as
// sortrun.go runs them). A message that arrives after the internal
// commands is taken as younger: YOUNGER's set ends with every UID above
// the highest there was. At most maxWithinKeys keys a command, and an
// expansion past what a backend reads (maxRelayedText) is NO [LIMIT].
//
// Rookery's choice where RFC 5032 leaves it open: YOUNGER n includes a
// message exactly n seconds old, OLDER n does not.

// withinKey is one OLDER or YOUNGER key of a command: Raw[from:to].
type withinKey struct {
	from, to int
	older    bool
	secs     uint64
}

// expandWithin returns cmd with each of its WITHIN keys replaced by the
// messages of the mailbox selected on bc that it matches now.
func (s *session) expandWithin(bc *backendConn, cmd *Command, keys []withinKey) (*Command, error) {
	// Internal dates have whole seconds, and so has the cut-off.
	now := time.Now().Truncate(time.Second)
	sets := make(map[withinKey]string)
	edits := make([]textEdit, 0, len(keys))
	for _, k := range keys {
		id := withinKey{older: k.older, secs: k.secs}
		set, ok := sets[id]
		if !ok {
			var err error
			if set, err = s.withinSet(bc, k.older, time.Unix(now.Unix()-int64(k.secs), 0)); err != nil {
				return nil, err
			}
			sets[id] = set
		}
		edits = append(edits, textEdit{from: k.from, to: k.to, text: set})
	}
	out := splice(cmd, edits)
	if commandText(out) > maxRelayedText {
		return nil, errWithinTooLong
	}
	return out, nil
}

// withinSet is the search key for the messages whose internal date is
// before cutoff (older) or not before it.
func (s *session) withinSet(bc *backendConn, older bool, cutoff time.Time) (string, error) {
	// An internal date's day is in its own zone, whose offset APPEND
	// takes up to 24:59 hours: two days either side cover any.
	day := time.Date(cutoff.UTC().Year(), cutoff.UTC().Month(), cutoff.UTC().Day(), 0, 0, 0, 0, time.UTC)
	key := "SINCE " + day.AddDate(0, 0, -2).Format("2-Jan-2006")
	if older {
		key = "BEFORE " + day.AddDate(0, 0, 3).Format("2-Jan-2006")
	}
	// And the last message, whose UID is the highest there is.
	tag, err := bc.start("SEARCH RETURN (ALL) OR " + key + " *")
	if err != nil {
		return "", err
	}
	found, refused, err := s.collectESearch(bc, tag, "search for WITHIN")
	switch {
	case err != nil:
		return "", err
	case refused != nil:
		return "", fmt.Errorf("%w: search for WITHIN: %q", ErrBackendProtocol, refused)
	}
	var match []uidAt
	var highest uint32
	for _, part := range splitSet(found.set, maxFetchSet) {
		if part == "" {
			continue
		}
		got, err := s.fetchDates(bc, part)
		if err != nil {
			return "", err
		}
		for _, m := range got {
			highest = max(highest, m.uid)
			if m.date.Before(cutoff) == older {
				match = append(match, m)
			}
		}
	}
	set := uidRuns(match)
	if !older && highest < math.MaxUint32 {
		// A message that comes after these commands is younger, also
		// under NOT: every UID above the highest there was.
		more := strconv.FormatUint(uint64(highest)+1, 10) + ":" + strconv.FormatUint(math.MaxUint32, 10)
		if len(match) == 0 {
			return "UID " + more, nil
		}
		set += "," + more
	}
	return set, nil
}

// errWithinTooLong: the WITHIN keys expand past what a backend reads.
var errWithinTooLong = fmt.Errorf("%w: OLDER and YOUNGER match too many separate runs of messages", ErrLimit)

// uidAt is a message's sequence number, UID and internal date.
type uidAt struct {
	seq, uid uint32
	date     time.Time
}

// fetchDates fetches the UID and internal date of the messages of set.
func (s *session) fetchDates(bc *backendConn, set string) ([]uidAt, error) {
	var msgs []uidAt
	var bad error
	tagged, err := bc.run("FETCH "+set+" (UID INTERNALDATE)", func(resp []byte) error {
		f, ok, perr := parseFetch(resp)
		if !ok || perr != nil {
			if perr != nil && bad == nil {
				bad = perr
			}
			s.pass(resp)
			return nil
		}
		d, hasDate := f.items["INTERNALDATE"]
		if !hasDate {
			s.pass(resp) // another session's flags, say
			return nil
		}
		uid, err := strconv.ParseUint(f.items["UID"].str(), 10, 32)
		date, derr := time.Parse("_2-Jan-2006 15:04:05 -0700", d.str())
		if err != nil || uid == 0 || derr != nil {
			bad = fmt.Errorf("%w: FETCH for WITHIN: %q", ErrBackendProtocol, resp)
			return nil
		}
		msgs = append(msgs, uidAt{seq: f.seq, uid: uint32(uid), date: date})
		s.relayFlags(f, uint32(uid))
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case status(tagged) != "OK":
		return nil, fmt.Errorf("%w: fetch for WITHIN: %q", ErrBackendProtocol, tagged)
	case bad != nil:
		return nil, bad
	}
	return msgs, nil
}

// uidRuns is the search key for msgs: UID and a range of UIDs per run
// of consecutive sequence numbers, or NOT ALL when there is none.
func uidRuns(msgs []uidAt) string {
	if len(msgs) == 0 {
		return "NOT ALL"
	}
	slices.SortFunc(msgs, func(a, b uidAt) int { return int(a.seq) - int(b.seq) })
	var b strings.Builder
	b.WriteString("UID ")
	for i := 0; i < len(msgs); {
		j := i
		for j+1 < len(msgs) && msgs[j+1].seq == msgs[j].seq+1 {
			j++
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(msgs[i].uid), 10))
		if j > i {
			b.WriteByte(':')
			b.WriteString(strconv.FormatUint(uint64(msgs[j].uid), 10))
		}
		i = j + 1
	}
	return b.String()
}
