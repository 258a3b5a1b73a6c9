package imapd

import (
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/rookery-mail/rookery/spool"
)

// mailboxState is the server's view of one open mailbox, shared by every
// session that has it selected: the messages in sequence-number order as
// the tracker last announced them. The store is the truth; refresh compares
// the two and queues the difference as IMAP updates, so a change made by a
// session, by LMTP or by replication reaches every session the same way,
// and applying one change twice is harmless.
type mailboxState struct {
	store *spool.Store
	id    uint64
	users int // guarded by Server.mu

	// reading is held from a read of the store until its merge, so that
	// snapshots merge in the order they were read: merging an older one
	// after a newer would take the newest messages for expunged.
	reading sync.Mutex
	mu      sync.Mutex
	loaded  bool
	msgs    []stateEntry // seq n is msgs[n-1]
	tracker *imapserver.MailboxTracker
	// keywords is every keyword a message of the view has had; each new
	// one is announced with FLAGS before the updates that name it.
	keywords keywordSet

	// Expunged messages sessions may still fetch (expunged.go).
	stash    map[uint32]*goneMsg // reported by the store, not yet merged
	pending  map[*imapserver.SessionTracker][]pendingExpunge
	gen      uint64   // counts the EXPUNGEs queued
	released []func() // file releases to run outside mu
	closed   bool     // no session has it open any more
}

type stateEntry struct {
	uid    uint32
	modSeq uint64
	unseen bool // lacks \Seen: the first such is SELECT's UNSEEN
}

func entryOf(m spool.Message) stateEntry {
	return stateEntry{uid: m.UID, modSeq: m.ModSeq, unseen: !hasFlag(m.Flags, imap.FlagSeen)}
}

func newMailboxState(store *spool.Store, id uint64) *mailboxState {
	return &mailboxState{store: store, id: id}
}

// load reads the mailbox on first use.
func (st *mailboxState) load() error {
	st.reading.Lock()
	defer st.reading.Unlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.loaded {
		return nil
	}
	msgs, err := st.store.Messages(st.id)
	if err != nil {
		return err
	}
	st.msgs = make([]stateEntry, len(msgs))
	for i, m := range msgs {
		st.msgs[i] = entryOf(m)
		st.keywords.add(m.Flags)
	}
	st.tracker = imapserver.NewMailboxTracker(uint32(len(st.msgs)))
	st.loaded = true
	return nil
}

// refresh brings the view up to date with the store. Flag updates are not
// queued to source, the session that made them and reports them itself.
func (st *mailboxState) refresh(source *imapserver.SessionTracker) error {
	st.reading.Lock()
	defer st.reading.Unlock()
	msgs, err := st.store.Messages(st.id)
	if err != nil {
		return err
	}
	st.mu.Lock()
	if st.loaded {
		st.mergeLocked(msgs, source)
	}
	st.mu.Unlock()
	st.releaseFiles()
	return nil
}

// mergeLocked walks the known messages and the store's (both in UID order).
// A known UID the store lacks was expunged; its sequence number is counted
// in the numbering left by the expunges before it, which is how the
// tracker applies them. A changed modseq is a flag change. UIDs above the
// last known one are new messages.
func (st *mailboxState) mergeLocked(msgs []spool.Message, source *imapserver.SessionTracker) {
	kept := make([]stateEntry, 0, len(msgs))
	j := 0
	for _, e := range st.msgs {
		for j < len(msgs) && msgs[j].UID < e.uid {
			// Below a UID clients have seen: it cannot be shown in
			// ascending order, so it waits for the next SELECT.
			j++
		}
		if j == len(msgs) || msgs[j].UID != e.uid {
			seq := uint32(len(kept)) + 1
			st.notePendingLocked(e.uid, seq)
			st.tracker.QueueExpunge(seq)
			continue
		}
		m := msgs[j]
		j++
		kept = append(kept, entryOf(m))
		if m.ModSeq != e.modSeq {
			st.queueKeywordsLocked(m.Flags)
			st.tracker.QueueMessageFlags(uint32(len(kept)), imap.UID(m.UID), m.Flags, source)
		}
	}
	for ; j < len(msgs); j++ {
		if len(kept) > 0 && msgs[j].UID <= kept[len(kept)-1].uid {
			continue
		}
		kept = append(kept, entryOf(msgs[j]))
		st.queueKeywordsLocked(msgs[j].Flags)
		// One EXISTS per message: the tracker maps sequence numbers
		// exactly only when the count grows one at a time. Then the new
		// message's UID, so that a frontend knows it at once (and can
		// name it when it goes: QRESYNC's VANISHED).
		st.tracker.QueueNumMessages(uint32(len(kept)))
		st.tracker.QueueMessageFlags(uint32(len(kept)), imap.UID(msgs[j].UID), msgs[j].Flags, nil)
	}
	st.msgs = kept
	st.sweepStashLocked()
}

// queueKeywordsLocked announces the keywords of flags that the mailbox
// has never had, with a FLAGS response to every session (RFC 3501
// section 7.2.6), before the update that names them is queued.
func (st *mailboxState) queueKeywordsLocked(flags []imap.Flag) {
	if st.keywords.add(flags) {
		st.tracker.QueueMailboxFlags(st.keywords.mailboxFlags())
	}
}

// numKeywords is how many keywords have been announced; the set only
// grows, so an equal count means an equal set.
func (st *mailboxState) numKeywords() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.keywords.list)
}

// knownKeywords is a copy of the keywords announced so far.
func (st *mailboxState) knownKeywords() keywordSet {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.keywords.clone()
}

// target is one message a command addresses: its sequence number as the
// session's client knows it, and its UID. expunged: the store no longer
// has it, but the client has not been told (gone is its last record, if
// kept).
type target struct {
	seq      uint32
	uid      uint32
	expunged bool
	gone     *goneMsg
}

// resolve turns a sequence or UID set from a client into the messages it
// names, in sequence order. Messages the client has not been told about
// yet (or has been told are gone) are left out.
func (st *mailboxState) resolve(sess *imapserver.SessionTracker, numSet imap.NumSet) []target {
	st.mu.Lock()
	defer st.mu.Unlock()
	numSet = st.staticLocked(numSet)
	var out []target
	for i, e := range st.msgs {
		t := target{seq: sess.EncodeSeqNum(uint32(i) + 1), uid: e.uid}
		if contains(numSet, t) {
			out = append(out, t)
		}
	}
	return out
}

// contains reports whether numSet names t (never a message the client
// does not know, by sequence number).
func contains(numSet imap.NumSet, t target) bool {
	switch set := numSet.(type) {
	case imap.SeqSet:
		return t.seq != 0 && set.Contains(t.seq)
	case imap.UIDSet:
		return set.Contains(imap.UID(t.uid))
	}
	return false
}

// all is every message in the view with the client's sequence numbers
// (0 for one the client does not know yet).
func (st *mailboxState) all(sess *imapserver.SessionTracker) []target {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]target, len(st.msgs))
	for i, e := range st.msgs {
		out[i] = target{seq: sess.EncodeSeqNum(uint32(i) + 1), uid: e.uid}
	}
	return out
}

// staticLocked replaces "*" with the largest sequence number or UID.
func (st *mailboxState) staticLocked(numSet imap.NumSet) imap.NumSet {
	var maxUID uint32
	if n := len(st.msgs); n > 0 {
		maxUID = st.msgs[n-1].uid
	}
	return staticSet(numSet, uint32(len(st.msgs)), maxUID)
}

// staticSet replaces "*" with maxSeq or maxUID.
func staticSet(numSet imap.NumSet, maxSeq, maxUID uint32) imap.NumSet {
	switch set := numSet.(type) {
	case imap.SeqSet:
		max := maxSeq
		out := make(imap.SeqSet, len(set))
		for i, r := range set {
			out[i] = imap.SeqRange{Start: r.Start, Stop: r.Stop}
			staticRange(&out[i].Start, &out[i].Stop, max)
		}
		return out
	case imap.UIDSet:
		max := maxUID
		out := make(imap.UIDSet, len(set))
		for i, r := range set {
			start, stop := uint32(r.Start), uint32(r.Stop)
			staticRange(&start, &stop, max)
			out[i] = imap.UIDRange{Start: imap.UID(start), Stop: imap.UID(stop)}
		}
		return out
	}
	return numSet
}

// staticRange resolves a range's "*" (0) to max; "n:*" with n > max names
// max, as RFC 9051 section 6.4.4 asks.
func staticRange(start, stop *uint32, max uint32) {
	dynamic := *start == 0 || *stop == 0
	if *start == 0 {
		*start = max
	}
	if *stop == 0 {
		*stop = max
	}
	if dynamic && *start > *stop {
		*start, *stop = *stop, *start
	}
}

// lastUID is the highest UID of the view, 0 when it is empty.
func (st *mailboxState) lastUID() uint32 {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.msgs) == 0 {
		return 0
	}
	return st.msgs[len(st.msgs)-1].uid
}

// newSession registers a session on the mailbox and returns the number of
// messages and the keywords it starts with: later changes reach it
// through the tracker.
func (st *mailboxState) newSession() (sess *imapserver.SessionTracker, n, firstUnseen uint32, kw keywordSet) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sess = st.tracker.NewSession()
	if st.pending == nil {
		st.pending = make(map[*imapserver.SessionTracker][]pendingExpunge)
	}
	st.pending[sess] = nil
	for i, e := range st.msgs {
		if e.unseen {
			firstUnseen = uint32(i + 1)
			break
		}
	}
	return sess, uint32(len(st.msgs)), firstUnseen, st.keywords.clone()
}
