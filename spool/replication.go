package spool

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// What replication needs of the store (replication speaks the protocol):
//
//   - a hook, run after each index commit and before its writers return or
//     any reader sees it, that brings the replicas up to date (Replicator);
//   - per-mailbox state (modseq, highest UID, lineage) and the changes
//     since a modseq, expunges included (tombstones);
//   - a way to take bodies by GUID and to apply a batch of changes in one
//     transaction, conditional on the replica's modseq (replica_apply.go).
//
// The lineage of a mailbox copy is the list of (first modseq, writer)
// entries: which backend made the changes from which modseq on. A primary
// appends itself when it writes after another backend did. Two copies
// share their history up to modseq M exactly when their lineages agree on
// every entry that starts at or below M, so a primary can tell a replica
// that is merely behind from one that has diverged (a forced promotion,
// a partition), as Kafka's leader epochs do.

// Replicator brings the replicas of mailboxes up to date with this
// store's committed state. It runs on the committer, after the commit and
// before the writers are answered and watchers hear of it; while it runs,
// Messages, Message, Size and Status of mailboxes wait (those of other
// mailboxes do not). It returns the mailboxes it could not replicate,
// with why: a write that changed one of them stays durable here but is
// not acknowledged (ErrNotReplicated). It must not write to this store
// through its committer (Append, Deliver, ...), nor read mailboxes
// through the waiting reads; ReplicaState, ChangesSince, HasBodies and
// Body are safe.
type Replicator func(ctx context.Context, mailboxes []uint64) (failed map[uint64]error)

// SetReplicator installs r (nil removes it).
func (s *Store) SetReplicator(r Replicator) {
	if r == nil {
		s.replicator.Store(nil)
		return
	}
	s.replicator.Store(&r)
}

// SetOrigin names the backend this store belongs to, for the lineage of
// the mailboxes it writes.
func (s *Store) SetOrigin(backendID string) { s.origin.Store(&backendID) }

// Origin is the name SetOrigin gave, or "".
func (s *Store) Origin() string {
	if p := s.origin.Load(); p != nil {
		return *p
	}
	return ""
}

// replicationOf returns the replicator and the mailboxes ops changed, or
// nil when there is nothing to replicate.
func (s *Store) replicationOf(ops []*op) (Replicator, []uint64) {
	p := s.replicator.Load()
	if p == nil {
		return nil, nil
	}
	var ids []uint64
	for _, o := range ops {
		if !o.replica {
			ids = append(ids, o.w.touched()...)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	slices.Sort(ids)
	return *p, slices.Compact(ids)
}

// replicatingCommit is an index commit whose replication is under way.
type replicatingCommit struct {
	txid      int      // its bbolt transaction: a read transaction of this id or later sees it
	mailboxes []uint64 // the mailboxes it changed, sorted
	done      chan struct{}
}

// beginReplicating names the commit of transaction txid, which changes
// mailboxes, as being replicated. It is called before the commit, so that
// a read that sees the commit also sees it named.
func (s *Store) beginReplicating(txid int, mailboxes []uint64) *replicatingCommit {
	rc := &replicatingCommit{txid: txid, mailboxes: mailboxes, done: make(chan struct{})}
	s.visMu.Lock()
	s.replicating = rc
	s.visMu.Unlock()
	return rc
}

// endReplicating lets the readers rc held back go on.
func (s *Store) endReplicating(rc *replicatingCommit) {
	s.visMu.Lock()
	if s.replicating == rc {
		s.replicating = nil
	}
	s.visMu.Unlock()
	close(rc.done)
}

// visibleView is view for the reads of mailbox id that serve clients: a
// read that would see a commit to id still being replicated waits until
// its replication is done and reads again. Reads of other mailboxes, and
// reads whose snapshot predates the commit, do not wait.
func (s *Store) visibleView(id uint64, fn func(tx *bolt.Tx) error) error {
	for {
		var wait <-chan struct{}
		err := s.view(func(tx *bolt.Tx) error {
			if wait = s.unreplicatedIn(tx, id); wait != nil {
				return nil
			}
			return fn(tx)
		})
		if wait == nil {
			return err
		}
		// Wait outside the read transaction: an open one would hold up
		// any write that grows the index file meanwhile (bbolt remaps it
		// under a lock every read transaction holds).
		<-wait
	}
}

// unreplicatedIn returns, when tx sees a commit to mailbox id whose
// replication is under way, a channel closed once it is done; else nil.
func (s *Store) unreplicatedIn(tx *bolt.Tx, id uint64) <-chan struct{} {
	s.visMu.Lock()
	rc := s.replicating
	s.visMu.Unlock()
	if rc == nil || tx.ID() < rc.txid {
		return nil
	}
	if _, ok := slices.BinarySearch(rc.mailboxes, id); !ok {
		return nil
	}
	if s.visWait != nil {
		s.visWait(id)
	}
	return rc.done
}

// LineageEntry says that Writer made the changes from ModSeq on.
type LineageEntry struct {
	ModSeq uint64 `json:"modseq"`
	Writer string `json:"writer"`
}

// ReplicaState is what a copy of a mailbox says about itself.
type ReplicaState struct {
	Mailbox       uint64         `json:"mailbox"`
	Exists        bool           `json:"exists"`
	UIDValidity   uint32         `json:"uidvalidity,omitempty"`
	MaxSeenUID    uint32         `json:"max_seen_uid,omitempty"`
	HighestModSeq uint64         `json:"highest_modseq,omitempty"`
	Lineage       []LineageEntry `json:"lineage,omitempty"`
}

// SharesHistory reports whether r's history is a prefix of s's: the
// changes s has made after r.HighestModSeq are all r lacks.
func (s ReplicaState) SharesHistory(r ReplicaState) bool {
	if !s.Exists || !r.Exists || r.UIDValidity != s.UIDValidity || r.HighestModSeq > s.HighestModSeq {
		return false
	}
	var upTo []LineageEntry
	for _, e := range s.Lineage {
		if e.ModSeq <= r.HighestModSeq {
			upTo = append(upTo, e)
		}
	}
	return slices.Equal(upTo, r.Lineage)
}

// Tombstone records that UID was expunged at ModSeq.
type Tombstone struct {
	UID    uint32 `json:"uid"`
	ModSeq uint64 `json:"modseq"`
}

// ChangeBatch is the changes of one mailbox after modseq Since, as the
// primary sends them to a replica. With Reset, Records is every record
// and the replica drops whatever else it holds (a copy that is missing or
// has diverged is copied whole).
type ChangeBatch struct {
	Mailbox       uint64         `json:"mailbox"`
	UIDValidity   uint32         `json:"uidvalidity"`
	Stride        uint32         `json:"stride"`
	Since         uint64         `json:"since"`
	Reset         bool           `json:"reset,omitempty"`
	HighestModSeq uint64         `json:"highest_modseq"`
	MaxSeenUID    uint32         `json:"max_seen_uid"`
	Lineage       []LineageEntry `json:"lineage,omitempty"`
	Records       []Message      `json:"records,omitempty"`
	Expunged      []Tombstone    `json:"expunged,omitempty"`
}

// ReplicaState describes this store's copy of mailbox id. It does not wait
// for replication, so a Replicator may call it.
func (s *Store) ReplicaState(id uint64) (ReplicaState, error) {
	st := ReplicaState{Mailbox: id}
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMailboxes).Bucket(idKey(id))
		if b == nil {
			return nil
		}
		m, err := readMeta(b, id)
		if err != nil {
			return err
		}
		st.Exists = true
		st.UIDValidity, st.MaxSeenUID, st.HighestModSeq = m.UIDValidity, m.MaxSeenUID, m.HighestModSeq
		st.Lineage, err = readLineage(b)
		return err
	})
	return st, err
}

// ChangesSince returns the changes of mailbox id after modseq since: the
// records changed since (with their current flags) and the expunges. With
// reset it returns every record instead. It does not wait for
// replication, so a Replicator may call it.
func (s *Store) ChangesSince(id uint64, since uint64, reset bool) (ChangeBatch, error) {
	var cb ChangeBatch
	err := s.view(func(tx *bolt.Tx) error {
		b, uids, m, err := loadMailbox(tx, id)
		if err != nil {
			return err
		}
		cb = ChangeBatch{Mailbox: id, UIDValidity: m.UIDValidity, Stride: m.Stride, Since: since, Reset: reset,
			HighestModSeq: m.HighestModSeq, MaxSeenUID: m.MaxSeenUID}
		if cb.Lineage, err = readLineage(b); err != nil {
			return err
		}
		if !reset {
			// What changed since, by the changes index (changes.go).
			if indexed, err := changesSince(b, uids, since, m.HighestModSeq, &cb); indexed || err != nil {
				return err
			}
		}
		// A whole copy, or a mailbox not written since the index came.
		err = uids.ForEach(func(_, v []byte) error {
			r, err := decodeRecord(v)
			if err == nil && (reset || r.ModSeq > since) {
				cb.Records = append(cb.Records, r)
			}
			return err
		})
		if err != nil || reset {
			return err
		}
		if t := b.Bucket(keyExpunged); t != nil {
			return t.ForEach(func(k, v []byte) error {
				if len(k) != 4 || len(v) != 8 {
					return fmt.Errorf("%w: mailbox %d: bad tombstone", ErrIO, id)
				}
				if ms := binary.BigEndian.Uint64(v); ms > since {
					cb.Expunged = append(cb.Expunged, Tombstone{UID: binary.BigEndian.Uint32(k), ModSeq: ms})
				}
				return nil
			})
		}
		return nil
	})
	return cb, err
}

// HasBodies reports, for each guid, whether the index holds that body.
func (s *Store) HasBodies(guids []string) ([]bool, error) {
	out := make([]bool, len(guids))
	err := s.view(func(tx *bolt.Tx) error {
		for i, g := range guids {
			out[i] = validGUID(g) && hasBody(tx, g)
		}
		return nil
	})
	return out, err
}

var keyExpunged = []byte("expunged")
var keyLineage = []byte("lineage")

// tombstone records that uid left the mailbox at modseq.
func (mb *mailbox) tombstone(uid uint32, modseq uint64) error {
	t, err := mb.b.CreateBucketIfNotExists(keyExpunged)
	if err != nil {
		return err
	}
	if v := t.Get(uidKey(uid)); len(v) == 8 {
		if err := mb.noteChange(binary.BigEndian.Uint64(v), uid, changeTombstone, false); err != nil {
			return err
		}
	}
	if err := mb.noteChange(modseq, uid, changeTombstone, true); err != nil {
		return err
	}
	return t.Put(uidKey(uid), binary.BigEndian.AppendUint64(nil, modseq))
}

// noteWriter extends the lineage when this store writes a mailbox that
// another writer changed last. The new entry starts at the first modseq
// of this change.
func (mb *mailbox) noteWriter() error {
	if mb.origin == "" {
		return nil
	}
	lin, err := readLineage(mb.b)
	if err != nil {
		return err
	}
	if len(lin) > 0 && lin[len(lin)-1].Writer == mb.origin {
		return nil
	}
	lin = append(lin, LineageEntry{ModSeq: mb.loaded + 1, Writer: mb.origin})
	return writeLineage(mb.b, lin)
}

func readLineage(b *bolt.Bucket) ([]LineageEntry, error) {
	v := b.Get(keyLineage)
	var out []LineageEntry
	for len(v) > 0 {
		if len(v) < 9 || len(v) < 9+int(v[8]) {
			return nil, fmt.Errorf("%w: bad lineage record", ErrIO)
		}
		n := int(v[8])
		out = append(out, LineageEntry{ModSeq: binary.BigEndian.Uint64(v), Writer: string(v[9 : 9+n])})
		v = v[9+n:]
	}
	return out, nil
}

func writeLineage(b *bolt.Bucket, lin []LineageEntry) error {
	var v []byte
	for _, e := range lin {
		w := e.Writer
		if len(w) > 255 {
			w = w[:255]
		}
		v = binary.BigEndian.AppendUint64(v, e.ModSeq)
		v = append(v, byte(len(w)))
		v = append(v, w...)
	}
	if len(v) == 0 {
		return b.Delete(keyLineage)
	}
	return b.Put(keyLineage, v)
}
