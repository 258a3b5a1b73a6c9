package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
)

// Replicate is the store's Replicator hook: it returns once every in-sync
// (or joining) replica of mailboxes holds this store's committed state
// under the placement the directory gives the mailbox, or has been
// dropped from the in-sync set by a committed directory command after
// which this backend is still the mailbox's primary. A mailbox this
// backend no longer serves fails: its new primary must not miss a change
// acknowledged here.
func (r *Replicator) Replicate(ctx context.Context, mailboxes []uint64) map[uint64]error {
	if r.closed.Load() {
		failed := make(map[uint64]error, len(mailboxes))
		for _, id := range mailboxes {
			failed[id] = ErrClosed
		}
		return failed
	}
	failed := r.replicateRound(ctx, mailboxes, directory.Local)
	// A replica that refused the fence has a newer placement than the
	// local copy: read the directory synced and send under what it says.
	for round := 1; round < maxPlacementRounds; round++ {
		var stale []uint64
		for id, err := range failed {
			if errors.Is(err, ErrStalePlacement) {
				stale = append(stale, id)
				delete(failed, id)
			}
		}
		if len(stale) == 0 {
			break
		}
		for id, err := range r.replicateRound(ctx, stale, directory.Synced) {
			failed[id] = err
		}
	}
	for id, err := range failed {
		if errors.Is(err, ErrStalePlacement) {
			failed[id] = fmt.Errorf("%w: %w", ErrNotPrimary, err)
		}
	}
	r.raiseFloors(ctx, failed)
	return failed
}

// maxPlacementRounds bounds the rounds of one acknowledgement that a
// moving placement may cost: after the last, the write fails.
const maxPlacementRounds = 3

// replicateRound sends mailboxes to the replicas of the placement the
// directory shows at level, and returns the mailboxes that failed.
func (r *Replicator) replicateRound(ctx context.Context, mailboxes []uint64, level directory.Level) map[uint64]error {
	byReplica, fences, failed := r.targets(ctx, mailboxes, level)
	if failed == nil {
		failed = make(map[uint64]error)
	}
	defer func() {
		for id, f := range fences {
			if failed[id] == nil {
				r.acked.add(id, f.Epoch)
			}
		}
	}()
	// A move's target goes first: once it refuses (it has been made
	// primary), nothing more of the change may reach anyone.
	failed = r.replicateMoves(ctx, mailboxes, failed)
	byReplica = withoutFailed(byReplica, failed)
	if len(byReplica) == 0 {
		return failed
	}
	start := time.Now()
	defer func() { r.lag.add(time.Since(start)) }()
	type outcome struct {
		ids  []uint64
		err  error
		lost bool // the replica failed and left the ack path
	}
	outcomes := make(chan outcome, len(byReplica))
	for rid, ids := range byReplica {
		go func() {
			lost, err := r.replicateTo(ctx, rid, ids, fences)
			outcomes <- outcome{ids, err, lost}
		}()
	}
	var lost []uint64
	for range byReplica {
		o := <-outcomes
		if o.lost {
			lost = append(lost, o.ids...)
		}
		for _, id := range o.ids {
			if o.err != nil {
				failed[id] = o.err
			}
		}
	}
	for id, err := range r.confirmPrimary(ctx, lost, fences) {
		if failed[id] == nil {
			failed[id] = err
		}
	}
	return failed
}

// confirmPrimary fences the acknowledgement of changes a replica lost: a
// failover that committed before the replica left the in-sync set may
// have promoted another copy while this backend's directory copy lagged.
// A synced read, taken after the replica left, must still show this
// backend primary at the epoch the change was sent under. It costs a
// round trip to the leader only when a replica fails.
func (r *Replicator) confirmPrimary(ctx context.Context, ids []uint64, fences map[uint64]*Fence) map[uint64]error {
	if len(ids) == 0 {
		return nil
	}
	failed := make(map[uint64]error)
	v, err := r.dir.Read(ctx, directory.Synced)
	if err != nil {
		for _, id := range ids {
			failed[id] = fmt.Errorf("%w: %w", ErrDirectory, err)
		}
		return failed
	}
	for _, id := range ids {
		m, ok := v.MailboxByID(id)
		f := fences[id]
		if !ok || f == nil || m.Primary.Backend != r.id || m.Epoch != f.Epoch {
			failed[id] = fmt.Errorf("%w: mailbox %d placed otherwise after its replica was lost", ErrStalePlacement, id)
		}
	}
	return failed
}

// raiseFloors handles the commits to mailboxes that have gone elsewhere:
// ErrNotPrimary (the directory names another primary) or a move's target
// that refused during the switch. Each is a write that will not be
// acknowledged but that the store publishes; the new primary is told
// first (see floor.go).
func (r *Replicator) raiseFloors(ctx context.Context, failed map[uint64]error) {
	v, verr := r.dir.Read(ctx, directory.Local)
	for id, err := range failed {
		var primary string
		var refused *targetRefused
		switch {
		case errors.As(err, &refused):
			primary = refused.target
		case errors.Is(err, ErrNotPrimary):
			if verr != nil {
				continue
			}
			if m, ok := v.MailboxByID(id); ok {
				primary = m.Primary.Backend
			}
		default:
			continue
		}
		r.raiseFloorOn(ctx, primary, id)
	}
}

// targets groups mailboxes by the replicas the ack path must wait for,
// gives the fence each is sent under, and fails the mailboxes this
// backend does not serve.
func (r *Replicator) targets(ctx context.Context, mailboxes []uint64, level directory.Level) (map[string][]uint64, map[uint64]*Fence, map[uint64]error) {
	out := make(map[string][]uint64)
	fences := make(map[uint64]*Fence, len(mailboxes))
	var failed map[uint64]error
	f, err := r.dir.Read(ctx, level)
	if err != nil {
		failed = make(map[uint64]error, len(mailboxes))
		for _, id := range mailboxes {
			failed[id] = fmt.Errorf("%w: %w", ErrDirectory, err)
		}
		return out, fences, failed
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range mailboxes {
		m, ok := f.MailboxByID(id)
		if !ok {
			continue // not in the directory yet: nobody else serves it
		}
		if m.Primary.Backend != r.id {
			if failed == nil {
				failed = make(map[uint64]error)
			}
			failed[id] = fmt.Errorf("%w: %s", ErrNotPrimary, m.Name)
			continue
		}
		fences[id] = &Fence{Primary: r.id, Epoch: m.Epoch, Index: f.Index()}
		for _, c := range m.Replicas {
			if r.joining[c.Backend] || (f.InSync(r.id, c.Backend) && !r.dropped[c.Backend]) {
				out[c.Backend] = append(out[c.Backend], id)
			}
		}
	}
	return out, fences, failed
}

// replicateTo syncs mailboxes to one replica under their fences. A
// refusal of a fence is returned as it is: the placement moved on, and
// the replica is not dropped for it. On any other failure the replica
// leaves the ack path, durably when it was in sync, and lost is set: the
// caller must confirm its primacy before it acknowledges (confirmPrimary).
func (r *Replicator) replicateTo(ctx context.Context, rid string, ids []uint64, fences map[uint64]*Fence) (lost bool, err error) {
	sctx, cancel := context.WithTimeout(ctx, r.timeout)
	err = r.syncAll(sctx, rid, ids, false, fences)
	cancel()
	if err == nil {
		return false, nil
	}
	if errors.Is(err, ErrStalePlacement) {
		r.log.Debug("replica refused a fence; the placement moved on", "replica", rid, "err", err)
		return false, err
	}
	unlock := r.lockPair(rid)
	defer unlock()
	r.mu.Lock()
	wasJoining := r.joining[rid]
	delete(r.joining, rid)
	dropped := r.dropped[rid]
	r.mu.Unlock()
	v, verr := r.dir.Read(ctx, directory.Local)
	if verr != nil {
		return false, fmt.Errorf("%w: %w", ErrDirectory, verr)
	}
	if !v.InSync(r.id, rid) || dropped {
		if !wasJoining {
			r.log.Debug("replica left the ack path", "replica", rid, "err", err)
		}
		return true, nil
	}
	r.log.Warn("replica fell behind; dropping it from the in-sync set", "replica", rid, "err", err)
	if err := r.setInSync(ctx, rid, false); err != nil {
		return false, err
	}
	return true, nil
}

// setInSync proposes the pair's new state and retries until the
// directory commits it or ctx ends: an acknowledgement must not overtake
// the drop of a replica that lacks the change.
func (r *Replicator) setInSync(ctx context.Context, rid string, inSync bool) error {
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		res, err := r.dir.Apply(ctx, fsm.SetInSync{Primary: r.id, Replica: rid, InSync: inSync, At: time.Now().UnixNano()})
		if err == nil {
			err = res.Err
		}
		if err == nil {
			r.mu.Lock()
			if !inSync {
				r.dropped[rid] = true
				if r.outSince[rid].IsZero() {
					r.outSince[rid] = time.Now()
				}
			} else {
				delete(r.outSince, rid)
			}
			r.mu.Unlock()
			return nil
		}
		r.log.Warn("in-sync update failed", "replica", rid, "in_sync", inSync, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: set in-sync %s: %w", ErrDirectory, rid, err)
		case <-time.After(delay):
		}
	}
}

// syncAll syncs each of ids to replica rid. reset allows replacing a
// copy whose history diverged, once the catch-up loop has merged what it
// alone held (see mergeFrom); on the ack path a diverged copy is an error.
// fences, when not nil, gives each mailbox's fence (see Fence).
func (r *Replicator) syncAll(ctx context.Context, rid string, ids []uint64, reset bool, fences map[uint64]*Fence) error {
	addr, err := r.apiAddr(rid)
	if err != nil {
		return err
	}
	if len(ids) == 1 { // the ack path's common case
		if err := r.syncMailbox(ctx, rid, addr, ids[0], reset, fences[ids[0]]); err != nil {
			return fmt.Errorf("mailbox %d to %s: %w", ids[0], rid, err)
		}
		return nil
	}
	// Mailboxes go in parallel (a catch-up of thousands, a commit that
	// touched several): each sync is a few round trips and an fsync on the
	// replica, mostly waiting. The first failure stops the rest.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		first error
		next  int
		wg    sync.WaitGroup
	)
	for range min(len(ids), syncParallelism) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if first != nil || next == len(ids) {
					mu.Unlock()
					return
				}
				id := ids[next]
				next++
				mu.Unlock()
				if err := r.syncMailbox(ctx, rid, addr, id, reset, fences[id]); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("mailbox %d to %s: %w", id, rid, err)
						cancel()
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// syncParallelism bounds the mailboxes one syncAll sends at once.
const syncParallelism = 8

func (r *Replicator) apiAddr(rid string) (string, error) {
	v, err := r.dir.Read(context.Background(), directory.Local)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	b, ok := v.Backend(rid)
	if !ok || b.APIAddr == "" {
		return "", fmt.Errorf("%w: backend %s has no cluster API address", ErrUnavailable, rid)
	}
	if b.State == fsm.BackendDown {
		return "", fmt.Errorf("%w: backend %s is down", ErrUnavailable, rid)
	}
	return b.APIAddr, nil
}

func (r *Replicator) lockMailbox(id uint64) func() {
	r.mu.Lock()
	m := r.mailboxMu[id]
	if m == nil {
		m = new(sync.Mutex)
		r.mailboxMu[id] = m
	}
	r.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// maxAttempts bounds the retries of one mailbox sync after a conflict (the
// replica's copy moved) or a body that went missing on the replica.
const maxAttempts = 3

// syncMailbox brings replica rid's copy of mailbox id up to this store's
// state: state, reserve, apply. A copy whose history diverged is replaced
// whole when reset is set, and is an error otherwise.
func (r *Replicator) syncMailbox(ctx context.Context, rid, addr string, id uint64, reset bool, fence *Fence) error {
	unlock := r.lockMailbox(id)
	defer unlock()
	key := copyKey{rid, id}
	var lastErr error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		mine, err := r.store.ReplicaState(id)
		if err != nil {
			return err
		}
		since, whole, err := r.startingPoint(ctx, addr, key, mine, reset)
		if err != nil {
			return err
		}
		if !whole && since == mine.HighestModSeq {
			return nil
		}
		cb, err := r.store.ChangesSince(id, since, whole)
		if err != nil {
			return err
		}
		err = r.send(ctx, addr, fence, cb, attempt > 0)
		if err == nil {
			r.setKnown(key, cb.HighestModSeq)
			return nil
		}
		r.forget(key)
		if !errors.Is(err, ErrConflict) && !errors.Is(err, ErrMissingBody) {
			return err
		}
		lastErr = err
	}
	return lastErr
}

// startingPoint says where the replica's copy is: the modseq to send
// changes after, or whole for a whole copy.
func (r *Replicator) startingPoint(ctx context.Context, addr string, key copyKey, mine spool.ReplicaState, reset bool) (uint64, bool, error) {
	if since, ok := r.knownModSeq(key); ok && since <= mine.HighestModSeq {
		return since, false, nil
	}
	states, err := r.client.State(ctx, addr, []uint64{key.mailbox})
	if err != nil {
		return 0, false, err
	}
	theirs := states[0]
	switch {
	case !theirs.Exists:
		return 0, false, nil
	case mine.SharesHistory(theirs):
		return theirs.HighestModSeq, false, nil
	case !reset:
		return 0, false, fmt.Errorf("%w: copy on %s diverged", ErrDiverged, key.replica)
	}
	return 0, true, nil
}

// send reserves the bodies of cb and applies it; all sends every body,
// for a retry after the replica lost one.
func (r *Replicator) send(ctx context.Context, addr string, fence *Fence, cb spool.ChangeBatch, all bool) error {
	guids := uniqueGUIDs(cb.Records)
	need := guids
	if !all && len(guids) > 0 {
		have, err := r.client.Reserve(ctx, addr, guids)
		if err != nil {
			return err
		}
		need = need[:0:0]
		for i, g := range guids {
			if !have[i] {
				need = append(need, g)
			}
		}
	}
	open := func(guid string) (io.ReadCloser, error) { return r.store.Body(guid) }
	return r.client.Apply(ctx, addr, fence, cb, need, open)
}

func uniqueGUIDs(recs []spool.Message) []string {
	seen := make(map[string]bool, len(recs))
	var out []string
	for _, m := range recs {
		if !seen[m.GUID] {
			seen[m.GUID] = true
			out = append(out, m.GUID)
		}
	}
	return out
}

func (r *Replicator) knownModSeq(k copyKey) (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.known[k]
	return v, ok
}

func (r *Replicator) setKnown(k copyKey, v uint64) {
	r.mu.Lock()
	r.known[k] = v
	r.mu.Unlock()
}

func (r *Replicator) forget(k copyKey) {
	r.mu.Lock()
	delete(r.known, k)
	r.mu.Unlock()
}
