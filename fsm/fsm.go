package fsm

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/google/btree"
	"github.com/hashicorp/raft"
)

var (
	_ raft.FSM         = (*FSM)(nil)
	_ raft.BatchingFSM = (*FSM)(nil)
)

// FSM is the replicated mailbox directory. Raft calls Apply, ApplyBatch,
// Snapshot and Restore from one goroutine; every read method is safe to
// call concurrently with them and never waits for Apply or Persist.
type FSM struct {
	handlers [256]handler

	// applyMu serialises writers (raft's FSM goroutine, and ApplyCommand
	// callers such as tests and offline replay). It guards work and dirty.
	applyMu sync.Mutex
	work    *tables
	dirty   uint8

	cur atomic.Pointer[View] // the published state that readers use

	waitMu sync.Mutex
	waitCh chan struct{} // closed on the next publish; nil when nobody waits
}

// handler applies one command type to the working tables, with applyMu
// held. It checks every rule before it changes anything, so a failed
// command changes nothing.
type handler func(f *FSM, cmd Command) Result

// New returns an empty directory.
func New() *FSM {
	f := &FSM{work: newTables(), dirty: dirtyAll}
	f.registerMailboxHandlers()
	f.registerUserHandlers()
	f.registerSubscriptionHandlers()
	f.registerBackendHandlers()
	f.registerReplicationHandlers()
	f.registerRereplicateHandlers()
	f.registerMoveHandlers()
	f.registerDomainHandlers()
	f.handlers[TypeNoop] = func(*FSM, Command) Result { return Result{} }
	f.publishLocked(0)
	return f
}

// on adds the handler for command type T, so each subject's file lists its
// own commands with their concrete types.
func on[T Command](f *FSM, h func(f *FSM, cmd T) Result) {
	var zero T
	f.handlers[zero.Type()] = func(f *FSM, cmd Command) Result { return h(f, cmd.(T)) }
}

// Apply applies one committed log entry and returns a Result.
func (f *FSM) Apply(l *raft.Log) interface{} {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	r := f.applyLogLocked(l)
	f.publishLocked(l.Index)
	return r
}

// ApplyBatch applies committed entries in order and publishes once, which
// makes a burst of writes much cheaper than one publish per entry.
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	if len(logs) == 0 {
		return out
	}
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	applied := f.cur.Load().applied
	for i, l := range logs {
		if l.Type == raft.LogCommand {
			out[i] = f.applyLogLocked(l)
		}
		// Configuration entries change no directory state (raft keeps
		// them), but count as applied so the index keeps up with them.
		applied = max(applied, l.Index)
	}
	f.publishLocked(applied)
	return out
}

func (f *FSM) applyLogLocked(l *raft.Log) Result {
	cmd, err := Decode(l.Data)
	if err != nil {
		// Every replica holds the same entry: skipping it here would make
		// this replica diverge silently. Stop instead.
		panic(fmt.Sprintf("fsm: log entry %d cannot be decoded: %v", l.Index, err))
	}
	return f.applyLocked(l.Index, cmd)
}

// ApplyCommand applies cmd as if it were committed at index. Apply decodes
// and calls it; tests and offline replay call it directly.
func (f *FSM) ApplyCommand(index uint64, cmd Command) Result {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	r := f.applyLocked(index, cmd)
	f.publishLocked(index)
	return r
}

func (f *FSM) applyLocked(index uint64, cmd Command) Result {
	var r Result
	switch c := deref(cmd).(type) {
	case nil:
		r = Result{Err: fmt.Errorf("%w: nil command", ErrInvalidCommand)}
	case Unknown:
		if c.T&IgnoreUnknown == 0 {
			r = Result{Err: fmt.Errorf("%w: %d", ErrUnknownCommand, c.T)}
		} else {
			r = Result{} // its proposer marked it safe to skip
		}
	default:
		h := f.handlers[c.Type()]
		if h == nil {
			r = Result{Err: fmt.Errorf("%w: %d", ErrUnknownCommand, c.Type())}
		} else {
			r = h(f, c)
		}
	}
	r.Index = index
	return r
}

// deref turns a *Reserve into a Reserve (and so on), so that handlers and
// the codec see one form of each command.
func deref(cmd Command) Command {
	if cmd == nil {
		return nil
	}
	v := reflect.ValueOf(cmd)
	if v.Kind() != reflect.Pointer {
		return cmd
	}
	if v.IsNil() {
		return nil
	}
	c, _ := v.Elem().Interface().(Command)
	return c
}

// publishLocked makes the working tables visible to readers as one
// immutable state, cloning only the trees that changed.
func (f *FSM) publishLocked(applied uint64) {
	var prev tables
	if p := f.cur.Load(); p != nil {
		prev = p.tables
	}
	d := f.dirty
	next := &View{tables: *f.work, applied: applied}
	next.names = share(d&dirtyNames != 0, f.work.names, prev.names)
	next.ids = share(d&dirtyIDs != 0, f.work.ids, prev.ids)
	next.unsettled = share(d&dirtyUnsettled != 0, f.work.unsettled, prev.unsettled)
	next.users = share(d&dirtyUsers != 0, f.work.users, prev.users)
	next.subs = share(d&dirtySubs != 0, f.work.subs, prev.subs)
	next.aliases = share(d&dirtyAliases != 0, f.work.aliases, prev.aliases)
	next.grants = share(d&dirtyGrants != 0, f.work.grants, prev.grants)
	next.perBackend = sharePerBackend(d&dirtyPerBackend != 0, f.work.perBackend, prev.perBackend)
	f.dirty = 0
	f.cur.Store(next)

	f.waitMu.Lock()
	if f.waitCh != nil {
		close(f.waitCh)
		f.waitCh = nil
	}
	f.waitMu.Unlock()
}

// share returns the published tree when the working one has not changed
// since, else a fresh clone of the working tree.
func share[T any](changed bool, work, published *btree.BTreeG[T]) *btree.BTreeG[T] {
	if changed || published == nil {
		return work.Clone()
	}
	return published
}

// AppliedIndex is the log index of the last command applied (or restored
// from a snapshot).
func (f *FSM) AppliedIndex() uint64 {
	return f.cur.Load().applied
}

// WaitApplied returns once AppliedIndex() >= index, or ctx's error.
func (f *FSM) WaitApplied(ctx context.Context, index uint64) error {
	for {
		f.waitMu.Lock()
		if f.AppliedIndex() >= index {
			f.waitMu.Unlock()
			return nil
		}
		if f.waitCh == nil {
			f.waitCh = make(chan struct{})
		}
		ch := f.waitCh
		f.waitMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
