package imapd

import "github.com/emersion/go-imap/v2"

// flagRecent is IMAP4rev1's \Recent (RFC 3501 section 2.3.2), which
// go-imap v2 keeps only as an internal name.
const flagRecent imap.Flag = `\Recent`

// recency is the part of a mailbox that is \Recent in one session: UIDs
// in (from, to]. SELECT claims the messages above the store's recent
// mark, so each is recent in exactly one session; EXAMINE only looks.
// New messages announced while selected are claimed the same way on the
// next Poll (RFC 3501 section 7.3.2 sends RECENT with EXISTS).
type recency struct {
	ranges imap.UIDSet
	seen   uint32 // highest UID considered so far
}

func (r *recency) has(uid uint32) bool {
	return r.ranges.Contains(imap.UID(uid))
}

// withRecent returns flags with \Recent added when uid is recent here.
func (r *recency) withRecent(uid uint32, flags []imap.Flag) []imap.Flag {
	if !r.has(uid) {
		return flags
	}
	return append(append(make([]imap.Flag, 0, len(flags)+1), flags...), flagRecent)
}

// claimRecent takes the messages up to the mailbox view's last UID that no
// other session has had as recent (or, read-only, looks at them) and
// reports whether the session's set grew.
func (s *session) claimRecent() (bool, error) {
	sel := s.sel
	last := sel.st.lastUID()
	if last <= sel.recent.seen {
		return false, nil
	}
	var (
		prev uint32
		err  error
	)
	if sel.readOnly {
		prev, err = s.srv.cfg.Store.RecentMark(sel.mbox.ID)
	} else {
		prev, err = s.srv.cfg.Store.ClaimRecent(sel.mbox.ID, last)
	}
	if err != nil {
		return false, err
	}
	from := max(prev, sel.recent.seen)
	sel.recent.seen = last
	if from >= last {
		return false, nil
	}
	sel.recent.ranges.AddRange(imap.UID(from+1), imap.UID(last))
	return true, nil
}

// numRecent counts the messages the client knows that are recent here.
func (s *session) numRecent() uint32 {
	var n uint32
	for _, t := range s.sel.st.all(s.sel.tracker) {
		if t.seq != 0 && s.sel.recent.has(t.uid) {
			n++
		}
	}
	return n
}
