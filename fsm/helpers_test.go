package fsm

import (
	"errors"
	"testing"
)

// Test helpers: a directory with backends "b1".."b3" and
// users alice and bob, and an apply helper that keeps the log index.

type tfsm struct {
	*FSM
	t     *testing.T
	index uint64
}

func newTestFSM(t *testing.T) *tfsm {
	t.Helper()
	f := &tfsm{FSM: New(), t: t}
	for _, b := range []string{"b1", "b2", "b3"} {
		f.ok(BackendRegister{ID: b, IMAPAddr: b + ":143", LMTPAddr: b + ":24", APIAddr: b + ":8080", Weight: 1, At: 1})
	}
	f.ok(UserAdd{Name: "alice", PasswordHash: "$2a$x", At: 1})
	f.ok(UserAdd{Name: "bob", PasswordHash: "$2a$y", At: 1})
	return f
}

// apply runs cmd through Encode, Decode and Apply, as Raft would.
func (f *tfsm) apply(cmd Command) Result {
	f.t.Helper()
	data, err := Encode(cmd)
	if err != nil {
		f.t.Fatalf("encode %#v: %v", cmd, err)
	}
	f.index++
	r, ok := f.Apply(logAt(f.index, data)).(Result)
	if !ok {
		f.t.Fatalf("Apply returned no Result")
	}
	if r.Index != f.index {
		f.t.Fatalf("Result.Index = %d, want %d", r.Index, f.index)
	}
	return r
}

func (f *tfsm) ok(cmd Command) Result {
	f.t.Helper()
	r := f.apply(cmd)
	if r.Err != nil {
		f.t.Fatalf("%T %+v: %v", cmd, cmd, r.Err)
	}
	return r
}

// fails applies cmd, wants want, and checks that the state did not change.
func (f *tfsm) fails(cmd Command, want error) {
	f.t.Helper()
	before := f.Digest()
	r := f.apply(cmd)
	if !errors.Is(r.Err, want) {
		f.t.Fatalf("%T %+v: err %v, want %v", cmd, cmd, r.Err, want)
	}
	if f.Digest() != before {
		f.t.Fatalf("%T %+v failed with %v but changed the state", cmd, cmd, r.Err)
	}
}

// create reserves and activates name on b1.
func (f *tfsm) create(name string) *Mailbox {
	f.t.Helper()
	f.ok(Reserve{Name: name, Backend: "b1", Replicas: []string{"b2"}, Reservation: "r-" + name, At: 10})
	return f.ok(Activate{Name: name, Reservation: "r-" + name}).Mailbox
}

func (f *tfsm) mustMailbox(name string) *Mailbox {
	f.t.Helper()
	mb, ok := f.Mailbox(name)
	if !ok {
		f.t.Fatalf("mailbox %s missing", name)
	}
	return mb
}

func (f *tfsm) names(prefix string) []string {
	var out []string
	f.Mailboxes(prefix, func(mb *Mailbox) bool {
		out = append(out, mb.Name)
		return true
	})
	return out
}

// forceState puts name's record in state, as no command would: for a test
// of what readers make of a state the rules no longer let a command reach.
func (f *tfsm) forceState(name string, state MailboxState) {
	f.t.Helper()
	old := f.mustMailbox(name)
	mb := *old
	mb.State = state
	f.replaceMailbox(old, &mb)
	f.publishLocked(f.index)
}
