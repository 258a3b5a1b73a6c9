package imapd

import (
	"sort"

	"github.com/emersion/go-imap/v2"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
)

// UID sets the server sends are compacted over UIDs that do not exist:
// with odd and even UID slots, 2,4,6 is 2:6 when 3 and 5 are no messages
// (RFC 9051 section 2.3.1.1 lets a UID range name UIDs with no message).

// uidRun builds a UID set from UIDs in ascending order; open says the
// last UID added may still be joined by the next.
type uidRun struct {
	set  imap.UIDSet
	open bool
}

// add appends uid, joined to the last range when join holds.
func (r *uidRun) add(uid uint32, join bool) {
	if r.open && join && len(r.set) > 0 {
		r.set[len(r.set)-1].Stop = imap.UID(uid)
	} else {
		r.set = append(r.set, imap.UIDRange{Start: imap.UID(uid), Stop: imap.UID(uid)})
	}
	r.open = true
}

// adjacentLocked reports whether a < b are next to each other in the
// view: no message of it has a UID between them.
func (st *mailboxState) adjacentLocked(a, b uint32) bool {
	i := sort.Search(len(st.msgs), func(i int) bool { return st.msgs[i].uid >= a })
	return i+1 < len(st.msgs) && st.msgs[i].uid == a && st.msgs[i+1].uid == b
}

// copyData is COPYUID for pairs (in source UID order). A pair joins the
// range before it when the source UIDs are adjacent in src, the source
// view, and both sides step by the same amount, so that a client that
// enumerates the two sets pairs every existing message right. The new
// UIDs of one copy have nothing between them in the destination: they are
// taken one after the other in this backend's slot, above every UID the
// mailbox has seen.
func copyData(dst *fsm.Mailbox, src *mailboxState, pairs []spool.UIDPair) *imap.CopyData {
	data := &imap.CopyData{UIDValidity: dst.UIDValidity}
	var from, to uidRun
	src.mu.Lock()
	defer src.mu.Unlock()
	for i, p := range pairs {
		join := i > 0 && p.Src > pairs[i-1].Src && p.Dst > pairs[i-1].Dst &&
			p.Src-pairs[i-1].Src == p.Dst-pairs[i-1].Dst && src.adjacentLocked(pairs[i-1].Src, p.Src)
		from.add(p.Src, join)
		to.add(p.Dst, join)
	}
	data.SourceUIDs, data.DestUIDs = from.set, to.set
	return data
}
