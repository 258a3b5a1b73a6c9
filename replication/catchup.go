package replication

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// The catch-up loop: every replica of a mailbox this backend serves that
// is not in the in-sync set is brought up to date and put back in it, so
// that backends converge by themselves after a restart or a partition.
// A copy that diverged is merged first (mergeFrom), then replaced.

// catchUpLoop runs until ctx ends; Start starts it and Close waits for it.
func (r *Replicator) catchUpLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		r.catchUpOnce(ctx)
		r.restoreOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Replicator) catchUpOnce(ctx context.Context) {
	f, err := r.dir.Read(ctx, directory.Local)
	if err != nil {
		r.log.Warn("catch-up skipped: the directory could not be read", "err", err)
		return
	}
	byReplica := make(map[string][]*fsm.Mailbox)
	// A scan of the directory: fine for the mailboxes of a cluster of
	// modest size; a per-backend index would make it cheap at scale.
	f.Mailboxes("", func(m *fsm.Mailbox) bool {
		if m.Primary.Backend == r.id && m.State != fsm.Reserved {
			for _, c := range m.Replicas {
				byReplica[c.Backend] = append(byReplica[c.Backend], m)
			}
		}
		return true
	})
	for rid, mailboxes := range byReplica {
		if ctx.Err() != nil {
			return
		}
		r.mu.Lock()
		dropped := r.dropped[rid]
		r.mu.Unlock()
		if f.InSync(r.id, rid) && !dropped {
			continue
		}
		if b, ok := f.Backend(rid); !ok || b.State == fsm.BackendDown {
			continue
		}
		var ids []uint64
		for _, m := range mailboxes {
			if !r.stamped(m) {
				ids = nil // not ready: the pair waits for the next round
				break
			}
			ids = append(ids, m.ID)
		}
		if len(ids) == 0 {
			continue
		}
		start := time.Now()
		if err := r.catchUp(ctx, rid, ids); err != nil {
			r.log.Debug("replica catch-up failed", "replica", rid, "mailboxes", len(ids), "err", err)
			continue
		}
		r.log.Info("replica caught up and in sync", "replica", rid, "mailboxes", len(ids), "duration", time.Since(start))
	}
}

// stamped reports whether the spool records the directory's uidvalidity
// of m: Create activates before it stamps, and a copy made in between
// would carry the provisional one.
func (r *Replicator) stamped(m *fsm.Mailbox) bool {
	st, err := r.store.ReplicaState(m.ID)
	return err == nil && st.Exists && st.UIDValidity == m.UIDValidity
}

// catchUp merges diverged copies, then syncs every mailbox while the ack
// path waits for the replica too (joining), then marks the pair in sync.
func (r *Replicator) catchUp(ctx context.Context, rid string, ids []uint64) error {
	addr, err := r.apiAddr(rid)
	if err != nil {
		return err
	}
	states, err := r.client.State(ctx, addr, ids)
	if err != nil {
		return err
	}
	for i, theirs := range states {
		mine, err := r.store.ReplicaState(ids[i])
		if err != nil {
			return err
		}
		if theirs.Exists && mine.Exists && !mine.SharesHistory(theirs) {
			if err := r.mergeFrom(ctx, addr, ids[i]); err != nil {
				return fmt.Errorf("merge mailbox %d from %s: %w", ids[i], rid, err)
			}
		}
	}
	r.mu.Lock()
	r.joining[rid] = true
	r.mu.Unlock()
	if err := r.syncAll(ctx, rid, ids, true, nil); err != nil {
		r.leaveJoining(rid)
		return err
	}
	unlock := r.lockPair(rid)
	defer unlock()
	r.mu.Lock()
	still := r.joining[rid]
	r.mu.Unlock()
	if !still {
		return fmt.Errorf("replica %s failed while catching up", rid)
	}
	defer r.leaveJoining(rid)
	res, err := r.dir.Apply(ctx, fsm.SetInSync{Primary: r.id, Replica: rid, InSync: true, At: time.Now().UnixNano()})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	if err := r.dir.WaitApplied(ctx, res.Index); err != nil {
		return fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	r.mu.Lock()
	delete(r.dropped, rid)
	r.mu.Unlock()
	return nil
}

func (r *Replicator) leaveJoining(rid string) {
	r.mu.Lock()
	delete(r.joining, rid)
	r.mu.Unlock()
}

// lockPair serialises, per replica, marking it in sync (catch-up) with
// deciding what a failure on the ack path means, so that a replica never
// enters the set having missed a change acknowledged meanwhile.
func (r *Replicator) lockPair(rid string) func() {
	r.mu.Lock()
	m := r.pairMu[rid]
	if m == nil {
		m = new(sync.Mutex)
		r.pairMu[rid] = m
	}
	r.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// mergeFrom adds to this backend's copy what the replica's diverged copy
// alone holds, renumbering as spool.MergeForeign does; the replica's copy
// is replaced by ours afterwards.
func (r *Replicator) mergeFrom(ctx context.Context, addr string, id uint64) error {
	theirs, err := r.client.Records(ctx, addr, id)
	if err != nil {
		return err
	}
	guids := uniqueGUIDs(theirs.Records)
	have, err := r.store.HasBodies(guids)
	if err != nil {
		return err
	}
	for i, g := range guids {
		if have[i] {
			continue
		}
		release, err := r.importBody(ctx, addr, g)
		if err != nil {
			return err
		}
		defer release()
	}
	rep, err := r.store.MergeForeign(id, theirs.Records, theirs.Expunged, theirs.State.MaxSeenUID)
	if err != nil {
		return err
	}
	r.log.Info("merged diverged copy", "mailbox_id", id, "adopted", len(rep.Adopted),
		"renumbered", len(rep.Renumbered), "expunged", len(rep.Expunged), "duplicate_deliveries", len(rep.Duplicates))
	return nil
}

func (r *Replicator) importBody(ctx context.Context, addr, guid string) (func(), error) {
	rc, err := r.client.Body(ctx, addr, guid)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return r.store.ImportBody(ctx, guid, rc)
}

// DropCopies asks the replicas of a deleted mailbox to remove their
// copies. A replica that cannot be reached keeps its copy until its next
// start, when Reconcile quarantines it.
func (r *Replicator) DropCopies(ctx context.Context, m *fsm.Mailbox) {
	r.mu.Lock()
	delete(r.mailboxMu, m.ID)
	for _, c := range m.Replicas {
		delete(r.known, copyKey{c.Backend, m.ID})
	}
	r.mu.Unlock()
	for _, c := range m.Replicas {
		addr, err := r.apiAddr(c.Backend)
		if err == nil {
			dctx, cancel := context.WithTimeout(ctx, r.timeout)
			err = r.client.DropCopy(dctx, addr, m.ID)
			cancel()
		}
		if err != nil {
			r.log.Warn("replica copy of a deleted mailbox left in place", "replica", c.Backend, "mailbox_id", m.ID, "err", err)
		}
	}
}

// stateChunk bounds the mailboxes of one state call.
const stateChunk = 1000

// resyncInSync runs at start, before the backend serves: a commit whose
// replication a crash interrupted is on disk here and will be visible, so
// every in-sync replica must hold it (or leave the set) first. One state
// call per chunk of mailboxes finds the copies that differ; only those
// are synced, on the ack path's terms.
func (r *Replicator) resyncInSync(ctx context.Context) error {
	f, err := r.dir.Read(ctx, directory.Local)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	byReplica := make(map[string][]uint64)
	f.Mailboxes("", func(m *fsm.Mailbox) bool {
		if m.Primary.Backend == r.id && m.State != fsm.Reserved {
			for _, c := range m.Replicas {
				if f.InSync(r.id, c.Backend) {
					byReplica[c.Backend] = append(byReplica[c.Backend], m.ID)
				}
			}
		}
		return true
	})
	for rid, ids := range byReplica {
		stale, err := r.differing(ctx, rid, ids)
		if err != nil {
			stale = ids // unreachable: replicateTo drops it
		}
		if len(stale) == 0 {
			continue
		}
		if _, err := r.replicateTo(ctx, rid, stale, nil); err != nil {
			return err
		}
	}
	return nil
}

// differing returns those of ids whose copy on rid is not at this
// store's modseq, and notes the others as known.
func (r *Replicator) differing(ctx context.Context, rid string, ids []uint64) ([]uint64, error) {
	addr, err := r.apiAddr(rid)
	if err != nil {
		return nil, err
	}
	var stale []uint64
	for len(ids) > 0 {
		chunk := ids[:min(stateChunk, len(ids))]
		ids = ids[len(chunk):]
		sctx, cancel := context.WithTimeout(ctx, r.timeout)
		states, err := r.client.State(sctx, addr, chunk)
		cancel()
		if err != nil {
			return nil, err
		}
		for i, theirs := range states {
			mine, err := r.store.ReplicaState(chunk[i])
			if err != nil {
				return nil, err
			}
			if mine.SharesHistory(theirs) && theirs.HighestModSeq == mine.HighestModSeq {
				r.setKnown(copyKey{rid, chunk[i]}, mine.HighestModSeq)
				continue
			}
			stale = append(stale, chunk[i])
		}
	}
	return stale, nil
}
