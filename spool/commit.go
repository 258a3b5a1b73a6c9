package spool

import (
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// maxBatch bounds how many queued writes share one index transaction;
// maxReplicaBatch, how many of a replica's applies do. Those fail more
// often (a batch that does not follow from the copy, ErrReplicaConflict),
// and every failure runs the ops before it again.
const (
	maxBatch        = 256
	maxReplicaBatch = 16
)

// op is one write to the index, run by the committer inside a shared
// transaction. When apply fails, the committer rolls the transaction back
// and runs the other ops again without it, so a failed op leaves no trace.
// apply may therefore run more than once and must set its results afresh.
type op struct {
	apply func(w *txn) error
	done  chan error
	w     txn
	// replErr is set when the op committed but its changes could not be
	// replicated (see Replicator): it is not acknowledged.
	replErr error
	// replica: the op applies a primary's changes to this store's copy
	// (ApplyReplicated). It is neither replicated nor told to watchers,
	// and its changes carry no origin.
	replica bool
	// alone: the op is committed in a transaction of its own (a whole
	// mailbox copied to a replica, too big to run again).
	alone bool
}

// txn is an op's view of the shared transaction: the changes it made for
// Watch and the bodies whose last reference it dropped.
type txn struct {
	*bolt.Tx
	s       *Store
	origin  string // Store.origin when the op ran
	changes []Change
	// confirmed: mailboxes the op changed nothing in but whose replicas
	// must hold what it answers for (a delivery found already made) before
	// it is acknowledged.
	confirmed []uint64
	dropped   []string
	// held: bodies pinned by placeNewBody until the commit is durable.
	held  []string
	stats statsDelta
	// expunged holds the records expungeOne removed, until changed
	// reports their mailbox's expunge.
	expunged []Message
}

// touched lists the mailboxes whose replication the op's answer depends on.
func (w *txn) touched() []uint64 {
	ids := slices.Clone(w.confirmed)
	for _, c := range w.changes {
		ids = append(ids, c.Mailbox)
	}
	return ids
}

func (w *txn) changed(mailbox uint64, kind ChangeKind, uids []uint32) {
	c := Change{Mailbox: mailbox, Kind: kind, UIDs: uids}
	if kind == Expunged {
		c.Gone, w.expunged = w.expunged, nil
	}
	if len(uids) > 0 {
		w.changes = append(w.changes, c)
	}
}

// submit queues apply and waits until its transaction is durable (or has
// failed). Once queued, an op is never abandoned: its outcome is what the
// caller reports, so a stored message is never reported as failed.
func (s *Store) submit(apply func(w *txn) error) error {
	return s.submitTo(s.ops, &op{apply: apply, done: make(chan error, 1)})
}

// submitReplica is submit for a replica's apply, which has a committer of
// its own (replicaLoop): the main one waits for the replicas of what it
// commits, and a replica's apply queued behind it would wait for the
// primary it serves, which may be waiting for this store in turn.
func (s *Store) submitReplica(apply func(w *txn) error, alone bool) error {
	return s.submitTo(s.replicaOps, &op{apply: apply, done: make(chan error, 1), replica: true, alone: alone})
}

// submitTo queues o on ops. It does not hold closeMu while it waits for
// room in the queue: the committer, which makes the room, may need closeMu
// itself (a replicator's read), and a Close waiting for the lock would
// hold that read up for ever. Close waits for the sends in flight instead.
func (s *Store) submitTo(ops chan *op, o *op) error {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	s.sending.Add(1)
	s.closeMu.RUnlock()
	ops <- o
	s.sending.Done()
	return <-o.done
}

// commitLoop is the committer: it takes whatever writes are queued, runs
// them in one transaction and commits it with one fsync. While it syncs,
// new writes queue up for the next round, so the batch grows with load.
func (s *Store) commitLoop() {
	defer close(s.done)
	// Unreferenced inline bodies go with the next commit; when none comes,
	// a tick removes them by themselves.
	gc := time.NewTicker(garbageInterval)
	defer gc.Stop()
	s.runCommitter(s.ops, maxBatch, gc.C)
}

// replicaLoop is the committer of replicas' applies, as commitLoop is of
// the store's own writes.
func (s *Store) replicaLoop() {
	defer close(s.replicaDone)
	s.runCommitter(s.replicaOps, maxReplicaBatch, nil)
}

// runCommitter commits what is queued on ops until Close, in batches of
// up to size ops, and the garbage at each tick. An op marked alone is
// committed by itself.
func (s *Store) runCommitter(ops chan *op, size int, tick <-chan time.Time) {
	batch := make([]*op, 0, size)
	for {
		select {
		case o := <-ops:
			batch = append(batch[:0], o)
		case <-tick:
			s.commitGarbage()
			continue
		case <-s.quit:
			// Close has stopped new submits; finish what is queued.
			for {
				select {
				case o := <-ops:
					s.commit([]*op{o})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < size && !batch[0].alone {
			select {
			case o := <-ops:
				if o.alone {
					s.commit(batch)
					batch = append(batch[:0], o)
					break fill
				}
				batch = append(batch, o)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

// garbageInterval is how long unreferenced inline bodies may wait for a
// commit to remove them.
const garbageInterval = 500 * time.Millisecond

// commitGarbage removes the queued unreferenced inline bodies in a
// transaction of their own.
func (s *Store) commitGarbage() {
	garbage := s.takeGarbage()
	if len(garbage) == 0 {
		return
	}
	err := s.db.Update(func(tx *bolt.Tx) error { return s.collectGarbage(tx, garbage) })
	if err != nil {
		s.log.Warn("spool: removing unreferenced inline bodies", "err", err)
		s.requeueGarbage(garbage)
	}
}

// commit runs ops in one transaction. An op that fails for a reason of
// its own is answered alone; the others are retried in a new transaction,
// as bbolt's Batch does.
func (s *Store) commit(ops []*op) {
	pending := ops
	var garbage []string
	if !ops[0].replica {
		// The replicas' committer leaves garbage to this one: its batches
		// fail more often, and each failure rolls the removals back.
		garbage = s.takeGarbage()
	}
	// Put back unless a transaction that removed them commits.
	defer func() { s.requeueGarbage(garbage) }()
	for len(pending) > 0 {
		failed, err := s.tryCommit(pending, garbage)
		if failed < 0 {
			if err == nil {
				garbage = nil
			}
			for _, o := range pending {
				if err == nil {
					err := o.replErr
					o.replErr = nil
					o.done <- err
					continue
				}
				o.done <- err
			}
			return
		}
		pending[failed].done <- err
		pending = append(pending[:failed:failed], pending[failed+1:]...)
	}
}

// tryCommit returns the index of the op that failed by itself and its
// error, or -1 and the outcome of the whole transaction.
func (s *Store) tryCommit(ops []*op, garbage []string) (int, error) {
	tx, err := s.db.Begin(true)
	if err != nil {
		return -1, fsError("begin index transaction", err)
	}
	if err := s.collectGarbage(tx, garbage); err != nil {
		tx.Rollback()
		return -1, fsError("remove unreferenced inline bodies", err)
	}
	for i, o := range ops {
		o.w = txn{Tx: tx, s: s}
		if !o.replica {
			o.w.origin = s.Origin()
		}
		if err := o.apply(&o.w); err != nil {
			tx.Rollback()
			s.unpinHeld(ops[:i+1])
			if !isSpoolError(err) {
				err = fsError("index write", err)
			}
			return i, err
		}
	}
	replicate, mailboxes := s.replicationOf(ops)
	var rc *replicatingCommit
	if replicate != nil {
		// Readers of these mailboxes must not see the change before the
		// replicas hold it; readers of the others need not wait.
		rc = s.beginReplicating(tx.ID(), mailboxes)
	}
	if err := tx.Commit(); err != nil {
		s.unpinHeld(ops)
		if rc != nil {
			s.endReplicating(rc)
		}
		return -1, fsError("commit index", err)
	}
	if replicate != nil {
		failed := replicate(s.hookCtx, mailboxes)
		s.endReplicating(rc)
		for _, o := range ops {
			for _, id := range o.w.touched() {
				if err, ok := failed[id]; ok {
					o.replErr = fmt.Errorf("%w: mailbox %d: %w", ErrNotReplicated, id, err)
					break
				}
			}
		}
	}
	s.published(ops)
	return -1, nil
}

// published tells watchers about a durable commit, in commit order, then
// removes bodies that lost their last reference.
func (s *Store) published(ops []*op) {
	var dropped, held []string
	s.watchMu.RLock()
	for _, o := range ops {
		for _, c := range o.w.changes {
			if o.replica {
				break
			}
			for _, fn := range s.watchers {
				fn(c)
			}
		}
		dropped = append(dropped, o.w.dropped...)
		held = append(held, o.w.held...)
		s.stats.add(o.w.stats)
	}
	s.watchMu.RUnlock()
	for _, g := range held {
		s.unpin(g) // the index refers to it now
	}
	// unref pinned them until now (see Retain).
	for _, g := range dropped {
		s.unpin(g)
	}
	s.removeUnreferenced(dropped)
}

// unpinHeld undoes the pins unref and placeNewBody took for ops that ran
// in a transaction rolled back.
func (s *Store) unpinHeld(ops []*op) {
	for _, o := range ops {
		for _, g := range o.w.dropped {
			s.unpin(g)
		}
		for _, g := range o.w.held {
			s.unpin(g)
		}
		o.w.dropped, o.w.held = nil, nil
	}
}

// Watch calls fn after each durable commit with each change it made, in
// commit order, on the committer goroutine: fn must return quickly and
// must not call back into the store's writing methods or stop. After stop
// returns, fn is not called again.
func (s *Store) Watch(fn func(Change)) (stop func()) {
	s.watchMu.Lock()
	s.watchSeq++
	id := s.watchSeq
	s.watchers[id] = fn
	s.watchMu.Unlock()
	return func() {
		s.watchMu.Lock()
		delete(s.watchers, id)
		s.watchMu.Unlock()
	}
}
