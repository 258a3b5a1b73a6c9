package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/rookery-mail/rookery/jepsen/cluster"
	"github.com/rookery-mail/rookery/jepsen/history"
	"github.com/rookery-mail/rookery/jepsen/nemesis"
	"github.com/rookery-mail/rookery/jepsen/report"
)

// faultRunner applies a schedule to a cluster and logs each start and stop
// on the history's clock.
type faultRunner struct {
	c   *cluster.Cluster
	rec *history.Recorder
	log *slog.Logger

	mu     sync.Mutex
	active map[int]nemesis.Fault // started, not yet stopped, as resolved
	events []report.NemesisRecord
}

func newFaultRunner(c *cluster.Cluster, rec *history.Recorder, log *slog.Logger) *faultRunner {
	return &faultRunner{c: c, rec: rec, log: log, active: make(map[int]nemesis.Fault)}
}

// run applies each event at its time after the recorder's start, until the
// schedule ends or ctx does.
func (r *faultRunner) run(ctx context.Context, events []nemesis.Event) {
	for _, e := range events {
		wait := time.NewTimer(time.Duration(int64(e.At) - r.rec.Now()))
		select {
		case <-ctx.Done():
			wait.Stop()
			return
		case <-wait.C:
		}
		if e.Action == nemesis.Start {
			r.start(ctx, e.Fault)
		} else {
			r.stop(e.Fault.ID)
		}
	}
}

// start resolves a leader-targeted fault and applies it.
func (r *faultRunner) start(ctx context.Context, f nemesis.Fault) {
	var err error
	if f.Kind.TargetsLeader() {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		leader, lerr := r.c.Leader(lctx)
		cancel()
		if lerr == nil {
			f, err = f.Resolve(len(r.c.Nodes), leader)
		} else {
			err = lerr
		}
	}
	if err == nil {
		err = r.apply(ctx, f)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil || !errors.Is(err, cluster.ErrNoLeader) {
		r.active[f.ID] = f
	}
	r.recordLocked(nemesis.Start, f, err)
}

func (r *faultRunner) apply(ctx context.Context, f nemesis.Fault) error {
	var errs []error
	switch {
	case f.Grudge != nil:
		errs = append(errs, r.c.Partition(ctx, f.Grudge.Links()))
	case f.Kind == nemesis.Kill || f.Kind == nemesis.KillLeader:
		for _, n := range f.Nodes {
			errs = append(errs, r.c.Kill(n))
		}
	case f.Kind == nemesis.Pause || f.Kind == nemesis.PauseLeader:
		for _, n := range f.Nodes {
			errs = append(errs, r.c.Pause(n))
		}
	case f.Kind == nemesis.FailoverLagging:
		for _, n := range f.Nodes {
			errs = append(errs, r.c.FailoverLagging(ctx, n))
		}
	default:
		errs = append(errs, fmt.Errorf("%w: fault %d of kind %s has no targets", ErrBadOptions, f.ID, f.Kind))
	}
	return errors.Join(errs...)
}

// stop undoes a started fault: heal, restart, resume.
func (r *faultRunner) stop(id int) {
	r.mu.Lock()
	f, ok := r.active[id]
	delete(r.active, id)
	r.mu.Unlock()
	if !ok {
		return
	}
	var errs []error
	switch {
	case f.Grudge != nil:
		// Not the run's context: a partition is healed even when the run
		// was interrupted.
		errs = append(errs, r.c.Partition(context.Background(), nil))
	case f.Kind == nemesis.Kill || f.Kind == nemesis.KillLeader:
		for _, n := range f.Nodes {
			errs = append(errs, r.c.Restart(n))
		}
	case f.Kind == nemesis.Pause || f.Kind == nemesis.PauseLeader:
		for _, n := range f.Nodes {
			// A node killed while paused has no process to continue.
			if err := r.c.Resume(n); err != nil && !errors.Is(err, cluster.ErrNotRunning) {
				errs = append(errs, err)
			}
		}
	case f.Kind == nemesis.FailoverLagging:
		for _, n := range f.Nodes {
			errs = append(errs, r.c.Unlag(n))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recordLocked(nemesis.Stop, f, errors.Join(errs...))
}

// healAll stops every fault still in force, then heals the whole cluster.
func (r *faultRunner) healAll() error {
	r.mu.Lock()
	ids := make([]int, 0, len(r.active))
	for id := range r.active {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	for _, id := range ids {
		r.stop(id)
	}
	return r.c.HealAll()
}

func (r *faultRunner) recordLocked(a nemesis.Action, f nemesis.Fault, err error) {
	rec := report.NemesisRecord{Time: r.rec.Now(), Action: a, Fault: f}
	if err != nil {
		rec.Error = err.Error()
	}
	r.events = append(r.events, rec)
	r.log.Info("nemesis", "action", a, "fault_id", f.ID, "kind", f.Kind, "nodes", f.Affected(), "error", rec.Error)
}

// activeKinds describes the faults in force, for the progress line.
func (r *faultRunner) activeKinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, f := range r.active {
		out = append(out, fmt.Sprintf("%s#%d", f.Kind, f.ID))
	}
	return out
}

func (r *faultRunner) records() []report.NemesisRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]report.NemesisRecord(nil), r.events...)
}
