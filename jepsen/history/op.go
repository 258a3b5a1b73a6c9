// Package history records what clients asked a cluster to do and what came
// back, in the shape the checkers read: one record per operation, with the
// monotonic times it was invoked and completed.
package history

import (
	"fmt"
	"sort"
)

// Outcome says what a client learned about an operation.
type Outcome string

const (
	// OK: the operation took effect.
	OK Outcome = "ok"
	// Fail: the operation certainly did not take effect.
	Fail Outcome = "fail"
	// Info: the client cannot tell (a timeout, a dropped connection); the
	// operation may take effect at any time after its invocation.
	Info Outcome = "info"
)

func (o Outcome) valid() bool { return o == OK || o == Fail || o == Info }

// Functions an operation can name. Workloads may add their own; checkers
// ignore the ones they do not read.
const (
	FCreate  = "create"  // CREATE key
	FDelete  = "delete"  // DELETE key
	FSelect  = "select"  // SELECT key; Value.UIDValidity on success
	FAppend  = "append"  // APPEND to key; Value.MessageID, UID and UIDValidity from APPENDUID
	FDeliver = "deliver" // LMTP delivery to the mailbox key; Value.MessageID
	FList    = "list"    // LIST; Value.Names
	FFetch   = "fetch"   // UID FETCH of key; Value.UIDValidity and Messages
	FExpunge = "expunge" // UID EXPUNGE of key; Value.UIDValidity and UIDs
	FOwners  = "owners"  // mailboxes a backend (Node) reports active; Value.Mailboxes
	FAcked   = "acked"   // epochs a backend (Node) acknowledged writes under; Value.Mailboxes (id, epochs)
	FRead    = "read"    // final read of key after healing; Value.Messages
	FRename  = "rename"  // RENAME key to Value.Names[0]
)

// Errors a workload records on a failed directory operation when the server
// refused it for a reason the model can use. Any other error text on a
// failed operation means only that it did not take effect.
const (
	ErrorExists      = "exists"      // NO [ALREADYEXISTS]
	ErrorNonexistent = "nonexistent" // NO [NONEXISTENT]
)

// Message is one message as a client saw it in a mailbox.
type Message struct {
	UID       uint32 `json:"uid"`
	MessageID string `json:"message_id"`
}

// Mailbox is one mailbox a backend reports holding as primary, or, for
// FAcked, the placement epochs it acknowledged writes to it under.
type Mailbox struct {
	Name   string   `json:"name,omitempty"`
	ID     string   `json:"id,omitempty"`
	Epochs []uint64 `json:"epochs,omitempty"`
}

// Value carries an operation's arguments and results. Each function uses
// the few fields it needs; the rest stay empty.
type Value struct {
	MessageID   string    `json:"message_id,omitempty"`
	UID         uint32    `json:"uid,omitempty"`
	UIDValidity uint32    `json:"uidvalidity,omitempty"`
	UIDs        []uint32  `json:"uids,omitempty"`
	Names       []string  `json:"names,omitempty"`
	Messages    []Message `json:"messages,omitempty"`
	Mailboxes   []Mailbox `json:"mailboxes,omitempty"`
}

// Op is one operation: invoked by a process (one client connection,
// numbered from 0) through a node (named n1, n2, ...), completed with an
// outcome. Times are nanoseconds on the run's monotonic clock.
type Op struct {
	Index    int     `json:"index"`
	Process  int     `json:"process"`
	F        string  `json:"f"`
	Key      string  `json:"key,omitempty"`
	Value    Value   `json:"value"`
	Outcome  Outcome `json:"outcome"`
	Error    string  `json:"error,omitempty"`
	Node     string  `json:"node,omitempty"`
	Invoke   int64   `json:"invoke_ns"`
	Complete int64   `json:"complete_ns"`
}

// History is every operation of a run, in invocation order.
type History []Op

// Validate reports the first record that no recorder could have written.
func (h History) Validate() error {
	seen := make(map[int]bool, len(h))
	for i, op := range h {
		switch {
		case op.F == "":
			return fmt.Errorf("%w: op %d: empty f", ErrBadHistory, i)
		case op.Process < 0:
			return fmt.Errorf("%w: op %d: process %d", ErrBadHistory, i, op.Process)
		case !op.Outcome.valid():
			return fmt.Errorf("%w: op %d: outcome %q", ErrBadHistory, i, op.Outcome)
		case op.Invoke < 0 || op.Complete < op.Invoke:
			return fmt.Errorf("%w: op %d: invoke %d, complete %d", ErrBadHistory, i, op.Invoke, op.Complete)
		case seen[op.Index]:
			return fmt.Errorf("%w: op %d: index %d repeated", ErrBadHistory, i, op.Index)
		}
		seen[op.Index] = true
	}
	return nil
}

// Filter returns the operations for which keep is true, in order.
func (h History) Filter(keep func(Op) bool) History {
	var out History
	for _, op := range h {
		if keep(op) {
			out = append(out, op)
		}
	}
	return out
}

// ByProcess groups the operations by process, each group in invocation
// order.
func (h History) ByProcess() map[int]History {
	out := make(map[int]History)
	for _, op := range h.sorted() {
		out[op.Process] = append(out[op.Process], op)
	}
	return out
}

// End is the latest completion time in the history.
func (h History) End() int64 {
	var end int64
	for _, op := range h {
		end = max(end, op.Complete)
	}
	return end
}

func (h History) sorted() History {
	out := append(History(nil), h...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Invoke != out[j].Invoke {
			return out[i].Invoke < out[j].Invoke
		}
		return out[i].Index < out[j].Index
	})
	return out
}
