package replication

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
)

// Live move of a mailbox to another backend (DESIGN "Mailbox life
// cycle"; the directory's side is fsm/move.go). The source drives it:
//
//  1. MoveStart: the target becomes an extra copy the replica protocol
//     may write to.
//  2. Bulk copy, in chunks by modseq while the mailbox stays in use, then
//     catch-up rounds for what arrived meanwhile.
//  3. The target joins the acknowledgement path, ahead of the replicas:
//     from here on nothing is acknowledged that the target lacks.
//  4. MoveMark: the mailbox goes Moving (deliveries 451, appends NO
//     [UNAVAILABLE]); a final sync; MoveSwitch makes the target primary.
//  5. The source's copy goes (or stays as a replica), and so does the copy
//     of a replica the switch dropped.
//
// Any failure before the switch aborts: MoveAbort, and the mailbox is
// Active on the source as before. A target that only fell behind on the
// acknowledgement path (a slow sync under load) is first given one more
// sync once the mailbox is Moving and takes no new writes.
//
// After the switch the source cannot acknowledge anything: its
// acknowledgement path needs the target's consent first, and the target
// refuses once it knows it is primary; the conditional apply refuses a
// batch once the target has written itself.

// MoveProgress is what a move reports as it goes.
type MoveProgress struct {
	Mailbox string `json:"mailbox"`
	Source  string `json:"source"`
	Target  string `json:"target"`
	// Phase: starting, copying, catching_up, switching, done, aborted.
	Phase  string `json:"phase"`
	Copied int    `json:"copied"` // messages copied to the target so far
	Total  int    `json:"total"`  // messages to copy, as of the copy's start
	// Error and ErrorCode (an fsm error code when there is one) say why a
	// move aborted.
	Error     string `json:"error,omitempty"`
	ErrorCode string `json:"error_code,omitempty"`
}

// Phases of a move.
const (
	PhaseStarting   = "starting"
	PhaseCopying    = "copying"
	PhaseCatchingUp = "catching_up"
	PhaseSwitching  = "switching"
	PhaseDone       = "done"
	PhaseAborted    = "aborted"
)

// moveState is the Replicator's view of a move this backend drives.
type moveState struct {
	mailbox uint64
	target  string

	mu        sync.Mutex
	inAckPath bool  // the acknowledgement path syncs the target first
	switching bool  // a target failure now fails the write, not the move
	failed    error // why the target left the acknowledgement path
}

func (r *Replicator) beginMove(id uint64, target string) *moveState {
	ms := &moveState{mailbox: id, target: target}
	r.mu.Lock()
	r.moves[id] = ms
	r.mu.Unlock()
	return ms
}

func (r *Replicator) endMove(ms *moveState) {
	r.mu.Lock()
	if r.moves[ms.mailbox] == ms {
		delete(r.moves, ms.mailbox)
	}
	delete(r.known, copyKey{ms.target, ms.mailbox})
	r.mu.Unlock()
}

// replicateMoves syncs, on the acknowledgement path, each mailbox with a
// move under way to the move's target. A failure before the switch takes
// the target out (the move aborts); during the switch it fails the write,
// which is then not acknowledged.
func (r *Replicator) replicateMoves(ctx context.Context, mailboxes []uint64, failed map[uint64]error) map[uint64]error {
	for _, id := range mailboxes {
		if failed[id] != nil {
			continue
		}
		r.mu.Lock()
		ms := r.moves[id]
		r.mu.Unlock()
		if ms == nil {
			continue
		}
		if err := r.syncMoveTarget(ctx, ms); err != nil {
			if failed == nil {
				failed = make(map[uint64]error)
			}
			failed[id] = err
		}
	}
	return failed
}

func (r *Replicator) syncMoveTarget(ctx context.Context, ms *moveState) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if !ms.inAckPath {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	err := r.syncAll(sctx, ms.target, []uint64{ms.mailbox}, false, nil)
	if err == nil {
		return nil
	}
	if ms.switching {
		return &targetRefused{target: ms.target, err: err}
	}
	r.log.Warn("move target fell behind; the move aborts", "target", ms.target, "mailbox_id", ms.mailbox, "err", err)
	ms.inAckPath = false
	ms.failed = err
	return nil
}

// targetRefused: a move's target did not take a change during the switch;
// it may already be the primary (see raiseFloors).
type targetRefused struct {
	target string
	err    error
}

func (e *targetRefused) Error() string { return fmt.Sprintf("move target %s: %v", e.target, e.err) }
func (e *targetRefused) Unwrap() error { return e.err }

func withoutFailed(byReplica map[string][]uint64, failed map[uint64]error) map[string][]uint64 {
	if len(failed) == 0 {
		return byReplica
	}
	for rid, ids := range byReplica {
		ids = slices.DeleteFunc(ids, func(id uint64) bool { return failed[id] != nil })
		if len(ids) == 0 {
			delete(byReplica, rid)
		} else {
			byReplica[rid] = ids
		}
	}
	return byReplica
}

// Move moves mailbox name to backend target ("" lets this backend pick
// one), reporting progress to report (which may be nil). It returns the
// mailbox as the directory has it after the switch. This backend must be
// the mailbox's primary.
func (r *Replicator) Move(ctx context.Context, name, target string, report func(MoveProgress)) (*fsm.Mailbox, error) {
	if report == nil {
		report = func(MoveProgress) {}
	}
	if !r.isRunning() {
		return nil, ErrClosed
	}
	m, v, err := r.lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	if m.Primary.Backend != r.id {
		return nil, fmt.Errorf("%w: %s is on %s", ErrNotPrimary, name, m.Primary.Backend)
	}
	if target == "" {
		if target = r.pickMoveTarget(v, m); target == "" {
			return nil, fmt.Errorf("%w: no other backend is up to take %s", fsm.ErrNoBackend, name)
		}
	}
	moveID, err := newMoveID()
	if err != nil {
		return nil, err
	}
	res, err := r.apply(ctx, fsm.MoveStart{Name: name, MoveID: moveID, Target: target,
		KeepSource: r.keepSource(m, target), At: time.Now().UnixNano()})
	if err != nil {
		return nil, err
	}
	if err := r.dir.WaitApplied(ctx, res.Index); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	if v, err = r.dir.Read(ctx, directory.Local); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	mv, ok := v.MoveOf(m.ID)
	if !ok || mv.ID != moveID {
		return nil, fmt.Errorf("%w: move of %s ended before it began", fsm.ErrNoMove, name)
	}
	p := MoveProgress{Mailbox: name, Source: r.id, Target: target, Phase: PhaseStarting}
	report(p)
	r.log.Info("mailbox move started", "mailbox", name, "mailbox_id", m.ID, "target", target,
		"target_slot", mv.Target.Slot, "keep_source", mv.KeepSource, "drop", mv.Drop)

	ms := r.beginMove(m.ID, target)
	after, err := r.runMove(ctx, m, mv, ms, &p, report)
	settled := true
	if err != nil {
		after, settled = r.settleMove(m, mv, err)
	}
	if !settled {
		// The switch may have committed: until the directory says, the
		// target keeps deciding what this backend may acknowledge.
		r.settleLater(m, mv, ms, err)
	} else {
		r.endMove(ms)
	}
	if after == nil || after.Primary.Backend != target {
		if after != nil {
			// The directory settled the move, so this backend's copy
			// holds the outcome; a copy it cannot read is left in place.
			if v, verr := r.dir.Read(context.Background(), directory.Local); verr == nil {
				if _, still := v.CopyOn(after, target); !still {
					r.dropRemote(target, m.ID)
				}
			}
		}
		p.Phase, p.Error, p.ErrorCode = PhaseAborted, errText(err), fsm.ErrorCode(err)
		report(p)
		r.log.Warn("mailbox move aborted", "mailbox", name, "target", target, "err", err)
		return nil, fmt.Errorf("move %s to %s aborted: %w", name, target, err)
	}
	r.afterSwitch(after, mv)
	p.Phase = PhaseDone
	report(p)
	r.log.Info("mailbox moved", "mailbox", after.Name, "mailbox_id", m.ID, "primary", target, "copied", p.Copied)
	return after, nil
}

func errText(err error) string {
	if err == nil {
		return "the move ended elsewhere"
	}
	return err.Error()
}

// runMove copies, joins, marks, syncs and switches. It returns the
// mailbox after the switch.
func (r *Replicator) runMove(ctx context.Context, m *fsm.Mailbox, mv fsm.Move, ms *moveState, p *MoveProgress, report func(MoveProgress)) (*fsm.Mailbox, error) {
	addr, err := r.apiAddr(mv.Target.Backend)
	if err != nil {
		return nil, err
	}
	p.Phase = PhaseCopying
	if err := r.bulkCopy(ctx, mv.Target.Backend, addr, m.ID, p, report); err != nil {
		return nil, fmt.Errorf("copy to %s: %w", mv.Target.Backend, err)
	}
	p.Phase = PhaseCatchingUp
	report(*p)
	if err := r.catchUpTarget(ctx, mv.Target.Backend, addr, m.ID); err != nil {
		return nil, err
	}
	// Join, then sync once more: a change committed before the join is
	// in this sync; one after it goes through the acknowledgement path.
	ms.mu.Lock()
	ms.inAckPath = true
	ms.mu.Unlock()
	if err := r.syncMailbox(ctx, mv.Target.Backend, addr, m.ID, false, nil); err != nil {
		return nil, fmt.Errorf("sync to %s: %w", mv.Target.Backend, err)
	}
	p.Phase = PhaseSwitching
	report(*p)
	return r.switchMove(ctx, m, mv, ms)
}

// switchMove marks the mailbox Moving, brings the target (and the in-sync
// replicas) level and makes the target primary.
func (r *Replicator) switchMove(ctx context.Context, m *fsm.Mailbox, mv fsm.Move, ms *moveState) (*fsm.Mailbox, error) {
	res, err := r.apply(ctx, fsm.MoveMark{Mailbox: m.ID, MoveID: mv.ID})
	if err != nil {
		return nil, err
	}
	if err := r.dir.WaitApplied(ctx, res.Index); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	ms.mu.Lock()
	failed := ms.failed
	ms.failed, ms.inAckPath = nil, true
	ms.mu.Unlock()
	if failed != nil {
		// The target fell behind on the acknowledgement path (a slow
		// sync under load) and left it. The mailbox takes no new writes
		// now: it has rejoined; one more sync brings it level, else the
		// move aborts.
		r.log.Info("move target fell behind; catching it up for the switch", "target", mv.Target.Backend,
			"mailbox_id", m.ID, "err", failed)
		addr, err := r.apiAddr(mv.Target.Backend)
		if err == nil {
			err = r.syncMailbox(ctx, mv.Target.Backend, addr, m.ID, false, nil)
		}
		if err != nil {
			return nil, fmt.Errorf("target %s: %w (it had fallen behind: %w)", mv.Target.Backend, err, failed)
		}
	}
	ms.mu.Lock()
	ms.switching = ms.failed == nil
	failed = ms.failed
	ms.mu.Unlock()
	if failed != nil {
		return nil, fmt.Errorf("target %s: %w", mv.Target.Backend, failed)
	}
	if errs := r.Replicate(ctx, []uint64{m.ID}); errs[m.ID] != nil {
		return nil, fmt.Errorf("final sync: %w", errs[m.ID])
	}
	res, err = r.apply(ctx, fsm.MoveSwitch{Mailbox: m.ID, MoveID: mv.ID, At: time.Now().UnixNano()})
	if err != nil {
		return nil, err
	}
	if err := r.dir.WaitApplied(ctx, res.Index); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	return res.Mailbox, nil
}

// settleMove ends a move that failed: it aborts it in the directory, or
// finds that the switch did commit after all (an answer lost on the way
// back), and returns the mailbox as the directory then has it. It runs
// on its own deadline, since the caller's context may be what failed;
// until it succeeds the mailbox stays as it was, taking no mail if it was
// Moving, and it goes on trying in the background (a restart of this
// backend aborts the move).
func (r *Replicator) settleMove(m *fsm.Mailbox, mv fsm.Move, cause error) (*fsm.Mailbox, bool) {
	ctx, cancel := context.WithTimeout(r.runCtx, 3*r.cfg.DirectoryTimeout)
	defer cancel()
	return r.settle(ctx, m, mv, cause)
}

// settleLater keeps settling a move in the background until the
// directory answers or the Replicator closes.
func (r *Replicator) settleLater(m *fsm.Mailbox, mv fsm.Move, ms *moveState, cause error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.running {
		return // a restart aborts the move
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if _, ok := r.settle(r.runCtx, m, mv, cause); ok {
			r.endMove(ms)
		}
	}()
}

func (r *Replicator) settle(ctx context.Context, m *fsm.Mailbox, mv fsm.Move, cause error) (*fsm.Mailbox, bool) {
	dir := r.dir
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		v, err := dir.Read(ctx, directory.Synced)
		if err == nil {
			cur, _ := v.MailboxByID(m.ID)
			if now, moving := v.MoveOf(m.ID); !moving || now.ID != mv.ID {
				return cur, true // switched, aborted, or the mailbox is gone
			}
			_, err = r.apply(ctx, fsm.MoveAbort{Mailbox: m.ID, MoveID: mv.ID, At: time.Now().UnixNano()})
			if err == nil || isBrokenRule(err) {
				continue // read the outcome
			}
		}
		r.log.Warn("settling an unfinished move", "mailbox", m.Name, "cause", cause, "err", err)
		select {
		case <-ctx.Done():
			r.log.Error("move not settled yet; the mailbox takes no mail until it is", "mailbox", m.Name, "move", mv.ID)
			return nil, false
		case <-time.After(delay):
		}
	}
}

// afterSwitch drops the copies the switch left without a place: the
// source's (unless it stays a replica) and the dropped replica's.
func (r *Replicator) afterSwitch(after *fsm.Mailbox, mv fsm.Move) {
	if !mv.KeepSource {
		if err := r.store.DeleteMailbox(after.ID); err != nil && !errors.Is(err, spool.ErrNoMailbox) {
			r.log.Warn("removal of the moved mailbox's old copy failed", "mailbox_id", after.ID, "err", err)
		}
	}
	if mv.Drop != "" {
		r.dropRemote(mv.Drop, after.ID)
	}
	r.mu.Lock()
	for k := range r.known {
		if k.mailbox == after.ID {
			delete(r.known, k)
		}
	}
	r.mu.Unlock()
}

// dropRemote asks backend id to remove its copy of mailbox, which the
// directory no longer places there. One that cannot be reached keeps it
// until its next start, when Reconcile quarantines it.
func (r *Replicator) dropRemote(id string, mailbox uint64) {
	addr, err := r.apiAddr(id)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
		err = r.client.DropCopy(ctx, addr, mailbox)
		cancel()
	}
	if err != nil {
		r.log.Warn("copy of a moved mailbox left in place", "backend", id, "mailbox_id", mailbox, "err", err)
	}
}

// pickMoveTarget prefers a replica that is up and in sync (it holds the
// mail already), else spreads by rendezvous hashing over the up backends.
func (r *Replicator) pickMoveTarget(f *fsm.View, m *fsm.Mailbox) string {
	for _, c := range m.Replicas {
		if be, ok := f.Backend(c.Backend); ok && be.State == fsm.BackendUp && f.InSync(r.id, c.Backend) {
			return c.Backend
		}
	}
	if ranked := r.cfg.RankBackends(m.Name); len(ranked) > 0 {
		return ranked[0]
	}
	return ""
}

// keepSource says whether the source must stay on as a replica: the
// copies the mailbox has without it fall short of the replication factor.
func (r *Replicator) keepSource(m *fsm.Mailbox, target string) bool {
	copies := 1 // the target
	for _, c := range m.Replicas {
		if c.Backend != target {
			copies++
		}
	}
	return copies < r.cfg.ReplicationFactor
}

// AbortOrphanMoves aborts, at start-up, the moves this backend was
// driving when it stopped: nobody else will finish them.
func (r *Replicator) AbortOrphanMoves(ctx context.Context) error {
	v, err := r.dir.Read(ctx, directory.Local)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	for _, mv := range v.Moves() {
		if mv.Source != r.id {
			continue
		}
		_, err := r.apply(ctx, fsm.MoveAbort{Mailbox: mv.Mailbox, MoveID: mv.ID, At: time.Now().UnixNano()})
		if err != nil && !isBrokenRule(err) {
			return err
		}
		r.log.Warn("unfinished move aborted at start", "mailbox_id", mv.Mailbox, "target", mv.Target.Backend)
	}
	return nil
}

// newMoveID names one move in the directory.
func newMoveID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("move id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// lookup finds name in the directory, with a synced read before it says
// the name does not exist, and returns the view it found it in.
func (r *Replicator) lookup(ctx context.Context, name string) (*fsm.Mailbox, *fsm.View, error) {
	m, v, err := directory.Find(ctx, r.dir, directory.Local, func(v *fsm.View) (*fsm.Mailbox, bool) {
		return v.Mailbox(name)
	})
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return nil, nil, fmt.Errorf("%w: %s", fsm.ErrNoMailbox, name)
	case err != nil:
		return nil, nil, fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	return m, v, nil
}
