package imapd

import (
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/rookery-mail/rookery/spool"
)

// Messages expunged before a session's client has been told. RFC 3501
// section 7.4.1 and RFC 9051 section 7.5.1 let the server go on serving
// such a message until it sends the EXPUNGE; the client still numbers
// it. So the mailbox state keeps, per session, the messages whose
// EXPUNGE is queued but not yet written (pending), with their last
// record, and the store keeps their files (spool.Store.Retain) until no
// session can ask for them. A FETCH of one is answered from that record
// and file (fetch.go).

// goneMsg is an expunged message some session may still fetch.
type goneMsg struct {
	rec     spool.Message
	release func() // lets the store remove the file
	refs    int    // the stash's and each session's hold; guarded by mu
}

// pendingExpunge is one message a session's client still has: the
// EXPUNGE is in its tracker's queue. gone is nil when the record was not
// kept (an expunge the store reported without it).
type pendingExpunge struct {
	uid  uint32
	gone *goneMsg
	gen  uint64 // when the EXPUNGE was queued (mailboxState.gen)
}

// retainGone keeps the records (and files) of messages the store has just
// expunged, until a refresh hands them to the sessions that knew them.
// It runs on the store's commit goroutine, before the files could go.
func (st *mailboxState) retainGone(recs []spool.Message) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return
	}
	if st.stash == nil {
		st.stash = make(map[uint32]*goneMsg)
	}
	for _, r := range recs {
		if old := st.stash[r.UID]; old != nil {
			st.dropLocked(old)
		}
		st.stash[r.UID] = &goneMsg{rec: r, release: st.store.Retain(r.GUID), refs: 1}
	}
}

// notePendingLocked records, for every session whose client knows the
// message at server sequence number seq (uid), that its EXPUNGE is about
// to be queued. It must run before the tracker queues it.
func (st *mailboxState) notePendingLocked(uid, seq uint32) {
	g := st.stash[uid]
	delete(st.stash, uid)
	st.gen++
	for sess, list := range st.pending {
		if sess.EncodeSeqNum(seq) == 0 {
			continue // never announced to this client
		}
		if g != nil {
			g.refs++
		}
		i, _ := slices.BinarySearchFunc(list, uid, func(p pendingExpunge, u uint32) int { return int(int64(p.uid) - int64(u)) })
		st.pending[sess] = slices.Insert(list, i, pendingExpunge{uid: uid, gone: g, gen: st.gen})
	}
	if g != nil {
		st.dropLocked(g)
	}
}

// sweepStashLocked lets go of kept records that no refresh will hand out:
// their UID is not in the view (it never was, or an earlier refresh
// already announced the expunge without them).
func (st *mailboxState) sweepStashLocked() {
	for uid, g := range st.stash {
		if _, ok := slices.BinarySearchFunc(st.msgs, uid, func(e stateEntry, u uint32) int { return int(int64(e.uid) - int64(u)) }); !ok {
			delete(st.stash, uid)
			st.dropLocked(g)
		}
	}
}

func (st *mailboxState) dropLocked(g *goneMsg) {
	if g.refs--; g.refs == 0 {
		st.released = append(st.released, g.release)
	}
}

// releaseFiles runs the releases that the locked code collected, outside
// the lock (a release reads the store's index).
func (st *mailboxState) releaseFiles() {
	st.mu.Lock()
	rel := st.released
	st.released = nil
	st.mu.Unlock()
	for _, r := range rel {
		r()
	}
}

// expungeGen is the generation of the last EXPUNGE queued; a Poll that
// writes every update queued by then can say so with told.
func (st *mailboxState) expungeGen() uint64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.gen
}

// told drops what sess's client has now been told is expunged: every
// pending expunge up to generation gen.
func (st *mailboxState) told(sess *imapserver.SessionTracker, gen uint64) {
	st.mu.Lock()
	list := st.pending[sess]
	kept := list[:0]
	for _, p := range list {
		if p.gen <= gen {
			if p.gone != nil {
				st.dropLocked(p.gone)
			}
			continue
		}
		kept = append(kept, p)
	}
	if _, ok := st.pending[sess]; ok {
		st.pending[sess] = kept
	}
	st.mu.Unlock()
	st.releaseFiles()
}

// forget unregisters sess, dropping its pending expunges.
func (st *mailboxState) forget(sess *imapserver.SessionTracker) {
	st.told(sess, ^uint64(0))
	st.mu.Lock()
	delete(st.pending, sess)
	st.mu.Unlock()
}

// releaseAll lets go of every kept record once no session has the
// mailbox open.
func (st *mailboxState) releaseAll() {
	st.mu.Lock()
	st.closed = true
	for uid, g := range st.stash {
		delete(st.stash, uid)
		st.dropLocked(g)
	}
	st.mu.Unlock()
	st.releaseFiles()
}

// resolveFetch is resolve for FETCH: it also names the messages sess's
// client still has but the store has expunged (expunged set, gone their
// record when kept). Sequence numbers are the client's: the view and the
// pending expunges in UID order. ok is false if that numbering disagrees
// with the tracker's (it should not): the caller then uses resolve.
func (st *mailboxState) resolveFetch(sess *imapserver.SessionTracker, numSet imap.NumSet) (out []target, ok bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	pend := st.pending[sess]
	if len(pend) == 0 {
		return nil, false
	}
	var client []target
	i, j := 0, 0
	for i < len(st.msgs) || j < len(pend) {
		if j < len(pend) && (i == len(st.msgs) || pend[j].uid < st.msgs[i].uid) {
			client = append(client, target{seq: uint32(len(client)) + 1, uid: pend[j].uid, expunged: true, gone: pend[j].gone})
			j++
			continue
		}
		e := st.msgs[i]
		i++
		seq := sess.EncodeSeqNum(uint32(i))
		if seq == 0 {
			continue // not yet announced
		}
		if seq != uint32(len(client))+1 {
			return nil, false
		}
		client = append(client, target{seq: seq, uid: e.uid})
	}
	var maxUID uint32
	if n := len(client); n > 0 {
		maxUID = client[n-1].uid
	}
	numSet = staticSet(numSet, uint32(len(client)), maxUID)
	for _, t := range client {
		if contains(numSet, t) {
			out = append(out, t)
		}
	}
	return out, true
}
