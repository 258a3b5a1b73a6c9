package imapfront

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/rookery-mail/rookery/internal/condstore"
)

// QRESYNC (RFC 7162 section 3.2), answered by the frontend over
// CONDSTORE's reads (condstore.go) and the tombstones the spool keeps of
// every expunge: once a client enables it, every EXPUNGE the backend
// sends becomes VANISHED with the message's UID, from the client's view
// (which learns each new message's UID as soon as the backend names it);
// SELECT and EXAMINE take the QRESYNC parameter and answer with VANISHED
// (EARLIER) and the FETCHes of what changed since the client's modseq;
// UID FETCH takes CHANGEDSINCE's VANISHED modifier.

// qresyncOffered reports whether the frontend offers QRESYNC.
func (s *session) qresyncOffered() bool { return s.condstoreOffered() }

// qresyncParam is SELECT's QRESYNC parameter (RFC 7162 section 3.2.5):
// the client's UIDVALIDITY and modseq, and the UIDs it knows.
type qresyncParam struct {
	uidValidity uint32
	modseq      uint64
	known       string // a UID set; "" for all
}

// readQresyncParam reads the list after QRESYNC: uidvalidity, modseq,
// and optionally known-uids and the sequence match data (which Rookery
// does not need: the tombstones name every expunge).
func readQresyncParam(items []sexp) (qresyncParam, error) {
	var p qresyncParam
	if len(items) < 2 || len(items) > 4 {
		return p, fmt.Errorf("%w: QRESYNC needs a UIDVALIDITY and a mod-sequence", ErrSyntax)
	}
	uv, err := strconv.ParseUint(items[0].atom, 10, 32)
	if err != nil || uv == 0 || items[0].list != nil {
		return p, fmt.Errorf("%w: QRESYNC: invalid UIDVALIDITY", ErrSyntax)
	}
	ms, err := strconv.ParseUint(items[1].atom, 10, 63)
	if err != nil || ms == 0 || items[1].list != nil {
		return p, fmt.Errorf("%w: QRESYNC: invalid mod-sequence", ErrSyntax)
	}
	p.uidValidity, p.modseq = uint32(uv), ms
	if len(items) >= 3 {
		if items[2].list != nil || !isSeqSet(items[2].atom) {
			return p, fmt.Errorf("%w: QRESYNC: invalid known UIDs", ErrSyntax)
		}
		p.known = items[2].atom
	}
	if len(items) == 4 {
		m := items[3].list
		if len(m) != 2 || !isSeqSet(m[0].atom) || !isSeqSet(m[1].atom) {
			return p, fmt.Errorf("%w: QRESYNC: invalid sequence match data", ErrSyntax)
		}
	}
	return p, nil
}

// sexp is an atom or a parenthesised list of them, nested.
type sexp struct {
	atom string
	list []sexp // non-nil for a list
}

// parseSexps reads space-separated atoms and lists, as SELECT's
// parameters are written, to the end of text.
func parseSexps(text string) ([]sexp, error) {
	out, rest, err := sexpsUntil(text, 0)
	if err == nil && rest != "" {
		err = fmt.Errorf("%w: unexpected %q", ErrSyntax, rest)
	}
	return out, err
}

func sexpsUntil(text string, depth int) ([]sexp, string, error) {
	if depth > 4 {
		return nil, "", fmt.Errorf("%w: parameters nested too deep", ErrSyntax)
	}
	out := []sexp{}
	for {
		text = strings.TrimPrefix(text, " ")
		switch {
		case text == "":
			return out, "", nil
		case text[0] == ')':
			return out, text, nil
		case text[0] == '(':
			inner, rest, err := sexpsUntil(text[1:], depth+1)
			if err != nil {
				return nil, "", err
			}
			if !strings.HasPrefix(rest, ")") {
				return nil, "", fmt.Errorf("%w: unbalanced parentheses", ErrSyntax)
			}
			out = append(out, sexp{list: inner})
			text = rest[1:]
		default:
			end := strings.IndexAny(text, " ()")
			if end < 0 {
				end = len(text)
			}
			out = append(out, sexp{atom: text[:end]})
			text = text[end:]
		}
	}
}

// vanishedSet writes uids (ascending) as a UID set, each run of UIDs with
// no message of the view between them one range (RFC 7162 section 3.2.10
// lets VANISHED name UIDs that never were). A UID the view still holds is
// left out: its expunge has not reached the client's session yet, and
// comes as a VANISHED that counts it out of the mailbox, which (EARLIER)
// does not. "" when none is left.
func (v *mboxView) vanishedSet(all []uint32) string {
	uids := slices.DeleteFunc(slices.Clone(all), func(u uint32) bool {
		_, held := slices.BinarySearch(v.uids, u)
		return held
	})
	var b strings.Builder
	for i := 0; i < len(uids); {
		j := i
		at, _ := slices.BinarySearch(v.uids, uids[i])
		for j+1 < len(uids) {
			next, _ := slices.BinarySearch(v.uids, uids[j+1])
			if next != at {
				break
			}
			j++
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(uids[i]), 10))
		if j > i {
			b.WriteString(":" + strconv.FormatUint(uint64(uids[j]), 10))
		}
		i = j + 1
	}
	return b.String()
}

// asVanished rewrites the backend's "* n EXPUNGE" as "* VANISHED uid" for
// a QRESYNC client (RFC 7162 section 3.2.10), before the view drops n.
func (s *session) asVanished(line []byte) []byte {
	if !s.cs.qresync {
		return line
	}
	rest, ok := bytes.CutPrefix(bytes.TrimSuffix(line, []byte("\r\n")), []byte("* "))
	if !ok {
		return line
	}
	n, word, ok := numbered(rest)
	if !ok || !bytes.EqualFold(word, []byte("EXPUNGE")) || n < 1 {
		return line
	}
	if n > len(s.view.uids) {
		// Not named yet: it cannot be told by UID. The backend names
		// every new message's UID at once, so this is a broken view.
		s.view.breakOn("EXPUNGE %d of a message whose UID is not known", n)
		return line
	}
	return fmt.Appendf(nil, "* VANISHED %d\r\n", s.view.uids[n-1])
}

// expungeResponse tells the client that message seq, UID uid, is gone.
func (s *session) expungeResponse(seq int, uid uint32) {
	if s.cs.qresync {
		s.untagged("VANISHED %d", uid)
		return
	}
	s.untagged("%d EXPUNGE", seq)
}

// qresyncSelect answers SELECT's QRESYNC parameter on the mailbox just
// selected: VANISHED (EARLIER) for the known UIDs expunged since the
// client's modseq, then a FETCH of each message changed since, if the
// UIDVALIDITY is the client's (RFC 7162 section 3.2.5.1).
func (s *session) qresyncSelect(p qresyncParam) error {
	if p.uidValidity != s.view.uidValidity {
		return nil
	}
	if err := s.learnTail(); err != nil {
		return err
	}
	ranges := allUIDs
	if p.known != "" {
		rs, err := parseSet(p.known, math.MaxUint32)
		if err != nil {
			return err
		}
		ranges = asRanges(rs)
	}
	r, err := s.readModSeqs(condstore.ReadRequest{UIDs: ranges, Since: p.modseq, Vanished: true})
	if err != nil {
		return err
	}
	if set := s.view.vanishedSet(r.Vanished); set != "" {
		s.untagged("VANISHED (EARLIER) %s", set)
	}
	return s.showChanged(s.view.messages(r.Messages))
}

// showChanged shows messages ts of the view with their flags and modseqs,
// by a FETCH of the backend rewritten as every FETCH is (withModSeq).
func (s *session) showChanged(ts []target) error {
	if len(ts) == 0 {
		return nil
	}
	s.mustShow(ts)
	for _, part := range splitSet(targetSet(ts, false), maxFetchSet) {
		tagged, err := s.selected.run("FETCH "+part+" (UID FLAGS)", func(resp []byte) error {
			s.pass(resp)
			return nil
		})
		if err != nil {
			return err
		}
		if status(tagged) != "OK" {
			return fmt.Errorf("%w: FETCH for QRESYNC: %q", ErrBackendProtocol, tagged)
		}
	}
	return nil
}

// asRanges is rs as the API's UID ranges.
func asRanges(rs []numRange) []condstore.Range {
	out := make([]condstore.Range, len(rs))
	for i, r := range rs {
		out[i] = condstore.Range{First: max(r.lo, 1), Last: r.hi}
	}
	return out
}
