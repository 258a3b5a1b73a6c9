package fsm

import (
	"bytes"
	"io"
	"slices"
	"testing"
)

func TestSetInSync(t *testing.T) {
	f := newTestFSM(t)
	f.fails(SetInSync{Primary: "b1", Replica: "nope", InSync: true}, ErrNoBackend)
	f.fails(SetInSync{Primary: "b1", Replica: "b1", InSync: true}, ErrInvalidCommand)
	if r := f.ok(SetInSync{Primary: "b1", Replica: "b2", InSync: true}); r.Count != 1 {
		t.Fatalf("count %d", r.Count)
	}
	if r := f.ok(SetInSync{Primary: "b1", Replica: "b2", InSync: true}); r.Count != 0 {
		t.Fatalf("repeat count %d", r.Count)
	}
	f.ok(SetInSync{Primary: "b3", Replica: "b1", InSync: true})
	if !f.InSync("b1", "b2") || f.InSync("b2", "b1") {
		t.Fatal("pair direction lost")
	}
	want := []Pair{{"b1", "b2"}, {"b3", "b1"}}
	if got := f.InSyncPairs(); !slices.Equal(got, want) {
		t.Fatalf("pairs %v, want %v", got, want)
	}
	f.ok(SetInSync{Primary: "b1", Replica: "b2", InSync: false})
	if f.InSync("b1", "b2") {
		t.Fatal("pair still in sync")
	}
}

// A backend that goes down hands each of its mailboxes to the first
// in-sync replica that is up, in the same command; slots travel.
func TestBackendDownPromotesInSyncReplica(t *testing.T) {
	f := newTestFSM(t)
	f.ok(Reserve{Name: "user/alice/INBOX", Backend: "b1", Replicas: []string{"b2", "b3"}, Reservation: "a", At: 1})
	f.ok(Activate{Name: "user/alice/INBOX", Reservation: "a"})
	f.ok(Reserve{Name: "user/bob/INBOX", Backend: "b1", Replicas: []string{"b3"}, Reservation: "b", At: 1})
	f.ok(Activate{Name: "user/bob/INBOX", Reservation: "b"})
	f.create("user/alice/Other") // b1, replica b2
	f.ok(Reserve{Name: "user/alice/Mine", Backend: "b2", Replicas: []string{"b1"}, Reservation: "m", At: 1})
	f.ok(Activate{Name: "user/alice/Mine", Reservation: "m"})
	f.ok(SetInSync{Primary: "b1", Replica: "b3", InSync: true})
	f.ok(SetBackendState{ID: "b1", State: BackendDown, At: 2})

	alice := f.mustMailbox("user/alice/INBOX")
	if alice.Primary != (Copy{"b3", 2}) || !slices.Equal(alice.Replicas, []Copy{{"b2", 1}, {"b1", 0}}) {
		t.Fatalf("alice: primary %+v replicas %+v", alice.Primary, alice.Replicas)
	}
	if bob := f.mustMailbox("user/bob/INBOX"); bob.Primary != (Copy{"b3", 1}) {
		t.Fatalf("bob: primary %+v", bob.Primary)
	}
	// b2 is not in sync with b1: that mailbox waits for b1 or an operator.
	if other := f.mustMailbox("user/alice/Other"); other.Primary.Backend != "b1" {
		t.Fatalf("out-of-sync replica promoted: %+v", other.Primary)
	}
	if mine := f.mustMailbox("user/alice/Mine"); mine.Primary.Backend != "b2" {
		t.Fatalf("mailbox of another backend moved: %+v", mine.Primary)
	}
	// An in-sync replica that is down is passed over.
	f.ok(SetInSync{Primary: "b3", Replica: "b2", InSync: true})
	f.ok(SetBackendState{ID: "b2", State: BackendDown, At: 3})
	f.ok(SetBackendState{ID: "b3", State: BackendDown, At: 3})
	if alice := f.mustMailbox("user/alice/INBOX"); alice.Primary.Backend != "b3" {
		t.Fatalf("promoted to a down backend: %+v", alice.Primary)
	}
}

func TestForcedFailover(t *testing.T) {
	f := newTestFSM(t)
	f.create("user/alice/INBOX") // b1, replica b2, not in sync
	f.fails(Failover{Backend: "nope", Force: true}, ErrNoBackend)
	if r := f.ok(Failover{Backend: "b1"}); r.Count != 0 {
		t.Fatalf("unforced failover moved %d", r.Count)
	}
	if r := f.ok(Failover{Backend: "b1", Force: true, At: 4}); r.Count != 1 {
		t.Fatalf("forced failover moved %d", r.Count)
	}
	mb := f.mustMailbox("user/alice/INBOX")
	if mb.Primary != (Copy{"b2", 1}) || !slices.Equal(mb.Replicas, []Copy{{"b1", 0}}) {
		t.Fatalf("primary %+v replicas %+v", mb.Primary, mb.Replicas)
	}
	if byID, _ := f.MailboxByID(mb.ID); byID != mb {
		t.Fatal("id index not updated")
	}
}

func TestInSyncSurvivesSnapshot(t *testing.T) {
	f := newTestFSM(t)
	f.ok(SetInSync{Primary: "b1", Replica: "b2", InSync: true})
	f.ok(SetInSync{Primary: "b2", Replica: "b3", InSync: true})
	data := persist(t, f.FSM)
	g := New()
	if err := g.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if g.Digest() != f.Digest() || !slices.Equal(g.InSyncPairs(), f.InSyncPairs()) {
		t.Fatalf("pairs after restore %v, want %v", g.InSyncPairs(), f.InSyncPairs())
	}
	before := f.Digest()
	f.ok(SetInSync{Primary: "b2", Replica: "b3", InSync: false})
	if f.Digest() == before {
		t.Fatal("digest ignores the in-sync set")
	}
}

func TestReplicationCommandsRoundTrip(t *testing.T) {
	for _, c := range []Command{
		SetInSync{Primary: "b1", Replica: "b2", InSync: true, At: -5},
		Failover{Backend: "b9", Force: true, At: 77},
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
	if _, err := Decode([]byte{byte(TypeFailover), 0, 2, 0}); err == nil {
		t.Fatal("bad bool decoded")
	}
}

// Failover with three copies: b2's copy of the mailbox lags b1 (the pair
// (b1, b2) is out of sync), while (b3, b2) is in sync from b3's own
// mailboxes. Once b3 takes the mailbox over, that pair must not let a
// second failover promote b2's lagging copy.
func TestFailoverDoesNotTrustPairForLaggingCopy(t *testing.T) {
	f := newTestFSM(t)
	f.ok(Reserve{Name: "user/alice/INBOX", Backend: "b1", Replicas: []string{"b3", "b2"}, Reservation: "a", At: 1})
	f.ok(Activate{Name: "user/alice/INBOX", Reservation: "a"})
	f.ok(SetInSync{Primary: "b1", Replica: "b3", InSync: true})
	f.ok(SetInSync{Primary: "b3", Replica: "b2", InSync: true})
	f.ok(Failover{Backend: "b1", At: 2})
	mb := f.mustMailbox("user/alice/INBOX")
	if mb.Primary.Backend != "b3" {
		t.Fatalf("primary %+v, want b3", mb.Primary)
	}
	if f.InSync("b3", "b2") {
		t.Fatal("pair (b3, b2) still in sync though b2's copy of the promoted mailbox lagged b1")
	}
	f.ok(Failover{Backend: "b3", At: 3})
	if mb := f.mustMailbox("user/alice/INBOX"); mb.Primary.Backend == "b2" {
		t.Fatalf("lagging copy promoted: %+v", mb.Primary)
	}
}

// The epoch moves on with every change of primary or replica set, and
// with nothing else; it survives a snapshot.
func TestEpochCountsPlacementChanges(t *testing.T) {
	f := newTestFSM(t)
	f.ok(Reserve{Name: "user/alice/Work", Backend: "b1", Replicas: []string{"b2"}, Reservation: "a", At: 1})
	f.ok(Activate{Name: "user/alice/Work", Reservation: "a"})
	if e := f.mustMailbox("user/alice/Work").Epoch; e != 0 {
		t.Fatalf("new mailbox at epoch %d", e)
	}
	f.ok(SetACL{Name: "user/alice/Work", Identifier: "bob", Rights: "lr"})
	f.ok(Rename{From: "user/alice/Work", To: "user/alice/Old"})
	if e := f.mustMailbox("user/alice/Old").Epoch; e != 0 {
		t.Fatalf("ACL and rename moved the epoch to %d", e)
	}
	f.ok(SetInSync{Primary: "b1", Replica: "b2", InSync: true})
	f.ok(Failover{Backend: "b1", At: 2})
	if mb := f.mustMailbox("user/alice/Old"); mb.Epoch != 1 || mb.Primary.Backend != "b2" {
		t.Fatalf("after failover: primary %s epoch %d, want b2 at 1", mb.Primary.Backend, mb.Epoch)
	}
	g := New()
	if err := g.Restore(io.NopCloser(bytes.NewReader(persist(t, f.FSM)))); err != nil {
		t.Fatal(err)
	}
	if mb, ok := g.Mailbox("user/alice/Old"); !ok || mb.Epoch != 1 || g.Digest() != f.Digest() {
		t.Fatalf("restored %+v, want epoch 1 and the same digest", mb)
	}
}

// Rereplicate gives a mailbox whose replica is down a copy on another
// backend in the lost copy's slot, only under the placement the proposer
// saw, and takes the pair out of the in-sync set until the primary has
// synced the new copies.
func TestRereplicate(t *testing.T) {
	f := newTestFSM(t)
	f.ok(Reserve{Name: "user/alice/Work", Backend: "b1", Replicas: []string{"b2"}, Reservation: "a", At: 1})
	f.ok(Activate{Name: "user/alice/Work", Reservation: "a"})
	f.ok(Reserve{Name: "user/alice/Solo", Backend: "b1", Reservation: "s", At: 1})
	f.ok(Activate{Name: "user/alice/Solo", Reservation: "s"})
	f.ok(SetInSync{Primary: "b1", Replica: "b3", InSync: true})
	work, solo := f.mustMailbox("user/alice/Work"), f.mustMailbox("user/alice/Solo")

	// b2 is up: its copy is not replaced.
	item := RereplicateItem{Mailbox: work.ID, Epoch: work.Epoch, Drop: "b2"}
	if r := f.ok(Rereplicate{Primary: "b1", Add: "b3", Items: []RereplicateItem{item}}); r.Count != 0 {
		t.Fatalf("replaced the copy on a backend that is up: count %d", r.Count)
	}
	f.ok(SetBackendState{ID: "b2", State: BackendDown, At: 2})
	stale := RereplicateItem{Mailbox: work.ID, Epoch: work.Epoch + 1, Drop: "b2"}
	if r := f.ok(Rereplicate{Primary: "b1", Add: "b3", Items: []RereplicateItem{stale}}); r.Count != 0 {
		t.Fatal("applied under an epoch the mailbox is not at")
	}
	f.fails(Rereplicate{Primary: "b1", Add: "b2", Items: []RereplicateItem{item}}, ErrInvalidCommand)
	f.fails(Rereplicate{Primary: "b1", Add: "b1", Items: []RereplicateItem{item}}, ErrInvalidCommand)

	r := f.ok(Rereplicate{Primary: "b1", Add: "b3", Items: []RereplicateItem{item, {Mailbox: solo.ID, Epoch: solo.Epoch}}})
	if r.Count != 2 {
		t.Fatalf("count %d, want 2", r.Count)
	}
	got := f.mustMailbox("user/alice/Work")
	if !slices.Equal(got.Replicas, []Copy{{"b3", 1}}) || got.Epoch != work.Epoch+1 {
		t.Fatalf("work: replicas %+v epoch %d", got.Replicas, got.Epoch)
	}
	if got := f.mustMailbox("user/alice/Solo"); !slices.Equal(got.Replicas, []Copy{{"b3", 1}}) {
		t.Fatalf("solo: replicas %+v", got.Replicas)
	}
	if f.InSync("b1", "b3") {
		t.Fatal("the pair stayed in sync though the new copies are empty")
	}
	if r := f.ok(Rereplicate{Primary: "b1", Add: "b3", Items: []RereplicateItem{{Mailbox: solo.ID, Epoch: solo.Epoch + 1}}}); r.Count != 0 {
		t.Fatal("a second copy on the same backend")
	}
}
