package fsm

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"
)

// single reserves and activates name on b1 with no replica (stride 2).
func (f *tfsm) single(name string) *Mailbox {
	f.t.Helper()
	f.ok(Reserve{Name: name, Backend: "b1", Reservation: "r-" + name, At: 10})
	return f.ok(Activate{Name: name, Reservation: "r-" + name}).Mailbox
}

// moveAll runs a move from start to switch and returns the mailbox after.
func (f *tfsm) moveAll(name, target string, keep bool) (*Mailbox, Move) {
	f.t.Helper()
	mb := f.mustMailbox(name)
	f.ok(MoveStart{Name: name, MoveID: "m-" + name, Target: target, KeepSource: keep, At: 20})
	mv, ok := f.MoveOf(mb.ID)
	if !ok {
		f.t.Fatal("move not recorded")
	}
	f.ok(MoveMark{Mailbox: mb.ID, MoveID: mv.ID})
	f.ok(MoveSwitch{Mailbox: mb.ID, MoveID: mv.ID, At: 21})
	if _, ok := f.MoveOf(mb.ID); ok {
		f.t.Fatal("move still recorded after the switch")
	}
	return f.mustMailbox(name), mv
}

func TestMoveToFreeSlot(t *testing.T) {
	f := newTestFSM(t)
	f.single("user/alice/INBOX")
	mb, mv := f.moveAll("user/alice/INBOX", "b2", false)
	if mv.Target != (Copy{"b2", 1}) || mv.Drop != "" || mv.Source != "b1" {
		t.Fatalf("move %+v", mv)
	}
	if mb.State != Active || mb.Primary != (Copy{"b2", 1}) || len(mb.Replicas) != 0 {
		t.Fatalf("after switch: %+v", mb)
	}
	// Kept as a replica, the source keeps its slot.
	f.single("user/bob/INBOX")
	mb, _ = f.moveAll("user/bob/INBOX", "b3", true)
	if mb.Primary != (Copy{"b3", 1}) || !slices.Equal(mb.Replicas, []Copy{{"b1", 0}}) {
		t.Fatalf("kept source: %+v", mb)
	}
}

// With every slot taken, the target takes a replica's slot and that
// replica goes; the source stays on in its own slot, so the source and
// the target never share a slot.
func TestMoveFullStrideTakesReplicaSlot(t *testing.T) {
	f := newTestFSM(t)
	f.create("user/alice/INBOX") // b1:0, replica b2:1
	mb, mv := f.moveAll("user/alice/INBOX", "b3", false)
	if mv.Target != (Copy{"b3", 1}) || mv.Drop != "b2" || !mv.KeepSource {
		t.Fatalf("move %+v", mv)
	}
	if mb.Primary != (Copy{"b3", 1}) || !slices.Equal(mb.Replicas, []Copy{{"b1", 0}}) {
		t.Fatalf("after switch: primary %+v replicas %+v", mb.Primary, mb.Replicas)
	}
}

func TestMoveToReplica(t *testing.T) {
	f := newTestFSM(t)
	f.create("user/alice/INBOX")
	mb, mv := f.moveAll("user/alice/INBOX", "b2", false)
	if mv.Target != (Copy{"b2", 1}) || mv.Drop != "" {
		t.Fatalf("move %+v", mv)
	}
	if mb.Primary != (Copy{"b2", 1}) || len(mb.Replicas) != 0 {
		t.Fatalf("after switch: %+v", mb)
	}
	f.create("user/bob/INBOX")
	mb, _ = f.moveAll("user/bob/INBOX", "b2", true)
	if mb.Primary != (Copy{"b2", 1}) || !slices.Equal(mb.Replicas, []Copy{{"b1", 0}}) {
		t.Fatalf("swap: %+v", mb)
	}
}

func TestMoveRules(t *testing.T) {
	f := newTestFSM(t)
	mb := f.create("user/alice/INBOX")
	f.fails(MoveStart{Name: "user/alice/INBOX", Target: "b3"}, ErrInvalidCommand) // no move id
	f.fails(MoveStart{Name: "user/alice/Nope", MoveID: "m", Target: "b3"}, ErrNoMailbox)
	f.fails(MoveStart{Name: "user/alice/INBOX", MoveID: "m", Target: "b9"}, ErrNoBackend)
	f.fails(MoveStart{Name: "user/alice/INBOX", MoveID: "m", Target: "b1"}, ErrInvalidCommand)
	f.ok(SetBackendState{ID: "b3", State: BackendDraining, At: 2})
	f.fails(MoveStart{Name: "user/alice/INBOX", MoveID: "m", Target: "b3"}, ErrInvalidCommand)
	f.ok(SetBackendState{ID: "b3", State: BackendUp, At: 3})

	f.ok(MoveStart{Name: "user/alice/INBOX", MoveID: "m", Target: "b3", At: 4})
	f.fails(MoveStart{Name: "user/alice/INBOX", MoveID: "m2", Target: "b2"}, ErrMailboxMoving)
	f.fails(MoveMark{Mailbox: mb.ID, MoveID: "other"}, ErrNoMove)
	f.fails(MoveSwitch{Mailbox: mb.ID, MoveID: "m"}, ErrInvalidCommand) // not marked
	if _, err := f.DeliveryTarget("alice", ""); err != nil {
		t.Fatalf("copying phase refuses delivery: %v", err)
	}
	f.ok(MoveMark{Mailbox: mb.ID, MoveID: "m"})
	f.ok(MoveMark{Mailbox: mb.ID, MoveID: "m"}) // a retry
	if _, err := f.DeliveryTarget("alice", ""); !errors.Is(err, ErrMailboxMoving) {
		t.Fatalf("moving mailbox takes delivery: %v", err)
	}
	f.fails(Rename{From: "user/alice/INBOX", To: "user/alice/X"}, ErrInvalidCommand)

	f.ok(MoveAbort{Mailbox: mb.ID, MoveID: "m", At: 5})
	after := f.mustMailbox("user/alice/INBOX")
	if after.State != Active || after.Primary != mb.Primary || !slices.Equal(after.Replicas, mb.Replicas) {
		t.Fatalf("after abort: %+v", after)
	}
	f.fails(MoveAbort{Mailbox: mb.ID, MoveID: "m"}, ErrNoMove)
	f.fails(MoveSwitch{Mailbox: mb.ID, MoveID: "m"}, ErrNoMove)
}

// A switch never leaves two copies in one slot, and the target never
// allocates from the source's slot.
func TestMoveSlotsStayDistinct(t *testing.T) {
	for _, keep := range []bool{false, true} {
		f := newTestFSM(t)
		f.ok(BackendRegister{ID: "b4", Weight: 1, At: 1})
		f.create("user/alice/INBOX")
		for i, target := range []string{"b3", "b4", "b2", "b1", "b3"} {
			before := f.mustMailbox("user/alice/INBOX")
			mb, mv := f.moveAll("user/alice/INBOX", target, keep)
			if mv.Target.Slot == before.Primary.Slot {
				t.Fatalf("move %d: target took the source's slot: %+v", i, mv)
			}
			seen := map[uint32]string{mb.Primary.Slot: mb.Primary.Backend}
			for _, r := range mb.Replicas {
				if other, dup := seen[r.Slot]; dup {
					t.Fatalf("move %d: slot %d held by %s and %s", i, r.Slot, other, r.Backend)
				}
				seen[r.Slot] = r.Backend
			}
		}
	}
}

func TestFailoverEndsMove(t *testing.T) {
	f := newTestFSM(t)
	mb := f.create("user/alice/INBOX") // b1:0, b2:1
	f.ok(SetInSync{Primary: "b1", Replica: "b2", InSync: true})
	f.ok(MoveStart{Name: mb.Name, MoveID: "m", Target: "b3", At: 4})
	f.ok(MoveMark{Mailbox: mb.ID, MoveID: "m"})
	f.ok(SetBackendState{ID: "b1", State: BackendDown, At: 5})
	after := f.mustMailbox(mb.Name)
	if after.State != Active || after.Primary.Backend != "b2" {
		t.Fatalf("after failover: %+v", after)
	}
	if _, ok := f.MoveOf(mb.ID); ok {
		t.Fatal("move of a failed-over mailbox survives")
	}
	// A target that goes down ends the moves to it.
	other := f.single("user/bob/INBOX")
	f.ok(MoveStart{Name: other.Name, MoveID: "n", Target: "b3", At: 6})
	f.ok(MoveMark{Mailbox: other.ID, MoveID: "n"})
	f.ok(SetBackendState{ID: "b3", State: BackendDown, At: 7})
	if got := f.mustMailbox(other.Name); got.State != Active || got.Primary.Backend != "b1" {
		t.Fatalf("after target down: %+v", got)
	}
	if len(f.Moves()) != 0 {
		t.Fatalf("moves left: %+v", f.Moves())
	}
}

func TestMoveSwitchDropsUnsyncedPairs(t *testing.T) {
	f := newTestFSM(t)
	f.ok(BackendRegister{ID: "b4", Weight: 1, At: 1})
	f.ok(Reserve{Name: "user/alice/INBOX", Backend: "b1", Replicas: []string{"b2"}, Stride: 3, Reservation: "r", At: 1})
	mb := f.ok(Activate{Name: "user/alice/INBOX", Reservation: "r"}).Mailbox
	f.ok(SetInSync{Primary: "b3", Replica: "b2", InSync: true}) // from b3's other mailboxes
	f.moveAll(mb.Name, "b3", false)
	if f.InSync("b3", "b2") {
		t.Fatal("pair (b3, b2) kept although b2 was not in sync with the source")
	}
	// In sync with the source: the target's pair stays as it was.
	f.ok(Reserve{Name: "user/bob/INBOX", Backend: "b1", Replicas: []string{"b2"}, Stride: 3, Reservation: "s", At: 1})
	bob := f.ok(Activate{Name: "user/bob/INBOX", Reservation: "s"}).Mailbox
	f.ok(SetInSync{Primary: "b1", Replica: "b2", InSync: true})
	f.ok(SetInSync{Primary: "b4", Replica: "b2", InSync: true})
	f.moveAll(bob.Name, "b4", false)
	if !f.InSync("b4", "b2") {
		t.Fatal("pair (b4, b2) dropped")
	}
}

func TestRemoveEndsMove(t *testing.T) {
	f := newTestFSM(t)
	mb := f.create("user/alice/Box")
	f.ok(MoveStart{Name: mb.Name, MoveID: "m", Target: "b3", At: 4})
	f.ok(MarkDeleting{Name: mb.Name})
	f.ok(Remove{Name: mb.Name, ID: mb.ID})
	if len(f.Moves()) != 0 {
		t.Fatal("move of a removed mailbox survives")
	}
}

func TestMoveSurvivesSnapshot(t *testing.T) {
	f := newTestFSM(t)
	a := f.create("user/alice/INBOX")
	b := f.create("user/bob/INBOX")
	f.ok(MoveStart{Name: b.Name, MoveID: "mb", Target: "b3", At: 4})
	f.ok(MoveStart{Name: a.Name, MoveID: "ma", Target: "b2", KeepSource: true, At: 5})
	f.ok(MoveMark{Mailbox: a.ID, MoveID: "ma"})
	data := persist(t, f.FSM)
	g := New()
	if err := g.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if g.Digest() != f.Digest() || !slices.Equal(g.Moves(), f.Moves()) {
		t.Fatalf("moves after restore %+v, want %+v", g.Moves(), f.Moves())
	}
	before := f.Digest()
	f.ok(MoveAbort{Mailbox: b.ID, MoveID: "mb", At: 6})
	if f.Digest() == before {
		t.Fatal("digest ignores moves")
	}
}

func TestMoveCommandsRoundTrip(t *testing.T) {
	for _, c := range []Command{
		MoveStart{Name: "user/a/INBOX", MoveID: "x", Target: "b2", KeepSource: true, At: -3},
		MoveMark{Mailbox: 7, MoveID: "x"},
		MoveSwitch{Mailbox: 7, MoveID: "x", At: 9},
		MoveAbort{Mailbox: 1 << 40, MoveID: "y", At: 1},
	} {
		data, err := Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(data)
		if err != nil || got != c {
			t.Fatalf("%#v decoded as %#v (%v)", c, got, err)
		}
	}
}
