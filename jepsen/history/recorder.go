package history

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// Recorder collects the operations of concurrent clients. Its clock starts
// at zero when it is made and is monotonic, so times compare across clients.
type Recorder struct {
	start time.Time

	mu      sync.Mutex
	ops     []Op
	pending map[int]bool
}

// Pending names an invoked operation until it completes.
type Pending struct{ index int }

// NewRecorder starts a recorder whose clock reads zero now.
func NewRecorder() *Recorder {
	return &Recorder{start: time.Now(), pending: make(map[int]bool)}
}

// Now is the recorder's clock in nanoseconds; the nemesis stamps its events
// with it so that faults and operations share one time line.
func (r *Recorder) Now() int64 { return int64(time.Since(r.start)) }

// Invoke records that a process starts op. Index, Invoke, Complete and
// Outcome are set here; the caller fills the rest.
func (r *Recorder) Invoke(op Op) Pending {
	r.mu.Lock()
	defer r.mu.Unlock()
	op.Index = len(r.ops)
	op.Invoke = r.Now()
	op.Complete = op.Invoke
	op.Outcome = Info
	r.ops = append(r.ops, op)
	r.pending[op.Index] = true
	return Pending{index: op.Index}
}

// Complete records how a pending operation ended. value replaces the
// operation's value when its fields are set, so results (a UID, a list of
// names) join the arguments given at invocation.
func (r *Recorder) Complete(p Pending, outcome Outcome, value Value, errText string) error {
	if !outcome.valid() {
		return fmt.Errorf("%w: outcome %q", ErrBadHistory, outcome)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.pending[p.index] {
		return fmt.Errorf("%w: index %d", ErrCompleted, p.index)
	}
	delete(r.pending, p.index)
	op := &r.ops[p.index]
	op.Complete = r.Now()
	op.Outcome = outcome
	op.Error = errText
	op.Value = mergeValue(op.Value, value)
	return nil
}

// History returns every operation so far in invocation order. Operations
// still pending are returned as info, completing now: whatever they did, they
// may yet do it.
func (r *Recorder) History() History {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.Now()
	out := append(History(nil), r.ops...)
	for i := range out {
		if r.pending[out[i].Index] {
			out[i].Complete = now
			out[i].Outcome = Info
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

func mergeValue(invoked, result Value) Value {
	if result.MessageID != "" {
		invoked.MessageID = result.MessageID
	}
	if result.UID != 0 {
		invoked.UID = result.UID
	}
	if result.UIDValidity != 0 {
		invoked.UIDValidity = result.UIDValidity
	}
	if result.UIDs != nil {
		invoked.UIDs = result.UIDs
	}
	if result.Names != nil {
		invoked.Names = result.Names
	}
	if result.Messages != nil {
		invoked.Messages = result.Messages
	}
	if result.Mailboxes != nil {
		invoked.Mailboxes = result.Mailboxes
	}
	return invoked
}
