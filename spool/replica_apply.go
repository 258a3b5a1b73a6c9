package spool

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// The replica's side: bodies arrive by GUID, then a batch applies in one
// transaction. Batches go to a committer of their own, not to the store's,
// which waits for its Replicator: a replica that is itself replicating a
// commit to its sender must still be able to apply the sender's batch, or
// two backends that replicate to each other would wait for each other for
// ever. Concurrent batches share a commit; bbolt runs one writer at a
// time, and no transaction spans a network call.

// BodyImport receives the bodies a primary sends with a batch, each stored
// as writeBody stores one: an inline-sized body is staged for the batch's
// commit, a larger one written as a file. A body of up to smallBody bytes
// is read off the stream into memory and stored by a writer of its own,
// several at once, while the stream goes on: storing a file costs more in
// the kernel than reading it off the wire, and a batch holds many. A
// larger body is stored straight from the stream. They stay pinned against
// removal until Release, which comes after the batch that names them is
// applied (or has failed).
type BodyImport struct {
	s       *Store
	writers sync.WaitGroup
	slots   chan struct{} // one per writer at work

	mu    sync.Mutex
	guids []string // pinned
	err   error    // the first failure of a writer
}

// Bodies up to smallBody bytes are written in the background, by up to
// importWriters writers: at most importWriters*smallBody bytes are held.
const (
	smallBody     = 256 << 10
	importWriters = 8
)

// NewBodyImport starts an import; the caller must Release it.
func (s *Store) NewBodyImport() *BodyImport {
	return &BodyImport{s: s, slots: make(chan struct{}, importWriters)}
}

// Add stores r as the body of guid; a body that does not hash to guid is
// ErrInvalidGUID and is not kept. A failure of a body written in the
// background is reported by a later Add or by Sync.
func (bi *BodyImport) Add(ctx context.Context, guid string, r io.Reader) error {
	s := bi.s
	if !validGUID(guid) {
		return fmt.Errorf("%w: %q", ErrInvalidGUID, guid)
	}
	if s.isClosed() {
		return ErrClosed
	}
	if err := bi.failure(); err != nil {
		return err
	}
	buf, err := io.ReadAll(io.LimitReader(r, smallBody+1))
	if err != nil {
		return fmt.Errorf("spool: reading message body: %w", err)
	}
	if len(buf) > smallBody {
		return bi.store(ctx, guid, io.MultiReader(bytes.NewReader(buf), r))
	}
	select {
	case bi.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	bi.writers.Add(1)
	go func() {
		defer func() { <-bi.slots; bi.writers.Done() }()
		if err := bi.store(ctx, guid, bytes.NewReader(buf)); err != nil {
			bi.mu.Lock()
			if bi.err == nil {
				bi.err = err
			}
			bi.mu.Unlock()
		}
	}()
	return nil
}

// store writes one body, records it as pinned and checks it against guid.
func (bi *BodyImport) store(ctx context.Context, guid string, r io.Reader) error {
	wb, err := bi.s.writeBody(ctx, r)
	if err != nil {
		return err
	}
	bi.mu.Lock()
	bi.guids = append(bi.guids, wb.guid)
	bi.mu.Unlock()
	if wb.guid != guid {
		return fmt.Errorf("%w: body hashes to %s, sent as %s", ErrInvalidGUID, wb.guid, guid)
	}
	return nil
}

func (bi *BodyImport) failure() error {
	bi.mu.Lock()
	defer bi.mu.Unlock()
	return bi.err
}

// Sync waits until every body added so far is stored (a file durable, a
// small body staged for the batch's commit), or one failed.
func (bi *BodyImport) Sync() error {
	bi.writers.Wait()
	return bi.failure()
}

// Release unpins the bodies; those no record names are removed.
func (bi *BodyImport) Release() {
	bi.writers.Wait()
	for _, g := range bi.guids {
		bi.s.unpin(g)
	}
	bi.s.removeUnreferenced(bi.guids)
	bi.guids = nil
}

// ImportBody stores one body sent by a primary, durably, pinned until
// release is called.
func (s *Store) ImportBody(ctx context.Context, guid string, r io.Reader) (release func(), err error) {
	bi := s.NewBodyImport()
	if err := bi.Add(ctx, guid, r); err != nil {
		bi.Release()
		return nil, err
	}
	if err := bi.Sync(); err != nil {
		bi.Release()
		return nil, err
	}
	return bi.Release, nil
}

// ApplyReplicated applies a primary's batch to this store's copy of the
// mailbox, creating the copy (with UID slot slot) if it is missing. Unless
// the batch is a Reset, the copy's modseq and uidvalidity must be the
// batch's Since and UIDValidity (ErrReplicaConflict). Every body a record
// names must be in the index or imported (ErrMissingBody). Nothing is
// changed when it fails.
func (s *Store) ApplyReplicated(cb ChangeBatch, slot uint32) error {
	if cb.Stride == 0 || slot >= cb.Stride || cb.UIDValidity == 0 {
		return fmt.Errorf("%w: batch uidvalidity %d, stride %d, slot %d", ErrInvalidMeta, cb.UIDValidity, cb.Stride, slot)
	}
	for _, r := range cb.Records {
		if !validGUID(r.GUID) || r.UID == 0 || r.ModSeq > cb.HighestModSeq || len(r.Delivery) > MaxDeliveryID {
			return fmt.Errorf("%w: record uid %d guid %q modseq %d", ErrInvalidMeta, r.UID, r.GUID, r.ModSeq)
		}
		if _, err := canonicalFlags(r.Flags); err != nil {
			return err
		}
	}
	// Concurrent applies (of different mailboxes) share a commit; a
	// whole copy (a Reset, or the first batch of a new copy) has one of
	// its own.
	return s.submitReplica(func(w *txn) error {
		mb, err := w.replicaMailbox(cb, slot)
		if err != nil {
			return err
		}
		return s.applyBatch(w, mb, cb)
	}, cb.Reset || cb.Since == 0)
}

// replicaMailbox opens (or creates) the copy cb applies to and checks that
// cb follows from it.
func (w *txn) replicaMailbox(cb ChangeBatch, slot uint32) (*mailbox, error) {
	root := w.Bucket(bucketMailboxes)
	if root.Bucket(idKey(cb.Mailbox)) == nil {
		if cb.Since != 0 && !cb.Reset {
			return nil, fmt.Errorf("%w: mailbox %d missing, batch since %d", ErrReplicaConflict, cb.Mailbox, cb.Since)
		}
		b, err := root.CreateBucket(idKey(cb.Mailbox))
		if err != nil {
			return nil, err
		}
		if _, err := b.CreateBucket(keyUIDs); err != nil {
			return nil, err
		}
		meta := mailboxMeta{MailboxMeta: MailboxMeta{ID: cb.Mailbox, UIDValidity: cb.UIDValidity, Stride: cb.Stride, Slot: slot}}
		w.stats.mailboxes++
		if err := writeMeta(b, &meta); err != nil {
			return nil, err
		}
	}
	mb, err := w.mailbox(cb.Mailbox)
	if err != nil {
		return nil, err
	}
	if !cb.Reset && (mb.meta.HighestModSeq != cb.Since || mb.meta.UIDValidity != cb.UIDValidity) {
		return nil, fmt.Errorf("%w: mailbox %d at modseq %d uidvalidity %d, batch since %d uidvalidity %d",
			ErrReplicaConflict, cb.Mailbox, mb.meta.HighestModSeq, mb.meta.UIDValidity, cb.Since, cb.UIDValidity)
	}
	return mb, nil
}

func (s *Store) applyBatch(w *txn, mb *mailbox, cb ChangeBatch) error {
	if cb.Reset {
		if err := w.dropUnlisted(mb, cb); err != nil {
			return err
		}
		mb.meta.UIDValidity = cb.UIDValidity
	}
	for _, r := range cb.Records {
		if err := s.putReplicated(w, mb, r); err != nil {
			return err
		}
	}
	for _, t := range cb.Expunged {
		old, ok, err := getRecord(mb.uids, t.UID)
		if err != nil {
			return err
		}
		if ok {
			if err := w.expungeOne(mb, &old, t.ModSeq); err != nil {
				return err
			}
		} else if err := mb.tombstone(t.UID, t.ModSeq); err != nil {
			return err
		}
	}
	mb.meta.HighestModSeq = cb.HighestModSeq
	mb.meta.MaxSeenUID = max(mb.meta.MaxSeenUID, cb.MaxSeenUID)
	if err := writeLineage(mb.b, cb.Lineage); err != nil {
		return err
	}
	return mb.writeMeta()
}

// dropUnlisted removes, for a Reset, every record the batch does not hold
// as it is.
func (w *txn) dropUnlisted(mb *mailbox, cb ChangeBatch) error {
	want := make(map[uint32]string, len(cb.Records))
	for _, r := range cb.Records {
		want[r.UID] = r.GUID
	}
	msgs, err := mb.records(nil)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if g, ok := want[m.UID]; ok && g == m.GUID {
			continue
		}
		if err := w.expungeOne(mb, &m, cb.HighestModSeq); err != nil {
			return err
		}
	}
	return nil
}

// putReplicated stores r as the primary has it: a flag change of a record
// the copy holds, or a new record whose body must be here already.
func (s *Store) putReplicated(w *txn, mb *mailbox, r Message) error {
	old, ok, err := getRecord(mb.uids, r.UID)
	if err != nil {
		return err
	}
	if ok && old.GUID == r.GUID && old.Size == r.Size {
		return mb.replace(&r, old)
	}
	if ok {
		if err := mb.remove(&old); err != nil {
			return err
		}
		if err := w.unref(old.GUID); err != nil {
			return err
		}
	}
	var cache []byte
	if !hasBody(w.Tx, r.GUID) {
		if !s.bodyPresent(w.Tx, r.GUID, r.Size) {
			return fmt.Errorf("%w: uid %d body %s", ErrMissingBody, r.UID, r.GUID)
		}
		cache = s.computeCache(w.Tx, r.GUID)
	}
	if err := w.ref(r.GUID, r.Size, cache); err != nil {
		return err
	}
	if now := time.Now(); r.Delivery != "" && now.Sub(r.InternalDate) < DedupWindow {
		// Should this copy become the primary, a proxy's second try of
		// the delivery finds it made (DeliverOnce). A delivery's
		// internal date is when it was made: older ones (a whole copy
		// sent to a new replica) are past any second try.
		if err := mb.expireDeliveries(now); err != nil {
			return err
		}
		if err := mb.noteDelivery(now, r.Delivery, r.GUID, r.UID); err != nil {
			return err
		}
	}
	return mb.add(&r)
}
