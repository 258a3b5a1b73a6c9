package fsm

import (
	"errors"
	"slices"
	"testing"
)

func TestReserveActivate(t *testing.T) {
	f := newTestFSM(t)
	r := f.ok(Reserve{Name: "user/alice/INBOX", Backend: "b1", Replicas: []string{"b2"}, Reservation: "r1", At: 5})
	mb := r.Mailbox
	if mb.ID != 1 || mb.State != Reserved || mb.Primary != (Copy{"b1", 0}) || !slices.Equal(mb.Replicas, []Copy{{"b2", 1}}) || mb.Stride != 2 {
		t.Fatalf("reserved record %+v", mb)
	}
	if mb.UIDValidity != 1 || mb.ReservedBy != "b1" || mb.ReservedAt != 5 {
		t.Fatalf("reserved record %+v", mb)
	}
	got := f.ok(Activate{Name: "user/alice/INBOX", Reservation: "r1"}).Mailbox
	if got.State != Active || got.UIDValidity != 1 || got.ID != 1 {
		t.Fatalf("active record %+v", got)
	}
	if mb.State != Reserved {
		t.Fatalf("Activate changed the reserved record in place")
	}
	second := f.create("user/alice/Sent")
	if second.ID != 2 || second.UIDValidity != 2 {
		t.Fatalf("second mailbox id %d uidvalidity %d, want 2 and 2", second.ID, second.UIDValidity)
	}
	// A retried Activate of the same reservation succeeds and changes nothing.
	before := f.Digest()
	again := f.ok(Activate{Name: "user/alice/INBOX", Reservation: "r1"}).Mailbox
	if again.UIDValidity != 1 || f.Digest() != before {
		t.Fatalf("retried Activate changed state: %+v", again)
	}
	if byID, ok := f.MailboxByID(1); !ok || byID.Name != "user/alice/INBOX" || byID.State != Active {
		t.Fatalf("MailboxByID(1) = %+v, %v", byID, ok)
	}
}

func TestReserveRules(t *testing.T) {
	f := newTestFSM(t)
	f.create("user/alice/INBOX")
	f.ok(Reserve{Name: "user/alice/Pending", Backend: "b1", Reservation: "rp"})
	tests := []struct {
		name string
		cmd  Reserve
		want error
	}{
		{"invalid name", Reserve{Name: "user/alice", Backend: "b1", Reservation: "x"}, ErrInvalidName},
		{"no namespace", Reserve{Name: "foo/bar", Backend: "b1", Reservation: "x"}, ErrInvalidName},
		{"active exists", Reserve{Name: "user/alice/INBOX", Backend: "b2", Reservation: "x"}, ErrNameExists},
		{"reserved: create in progress", Reserve{Name: "user/alice/Pending", Backend: "b2", Reservation: "x"}, ErrNotActive},
		{"unknown backend", Reserve{Name: "user/alice/New", Backend: "b9", Reservation: "x"}, ErrNoBackend},
		{"unknown replica", Reserve{Name: "user/alice/New", Backend: "b1", Replicas: []string{"b9"}, Reservation: "x"}, ErrNoBackend},
		{"replica is primary", Reserve{Name: "user/alice/New", Backend: "b1", Replicas: []string{"b1"}, Reservation: "x"}, ErrInvalidCommand},
		{"replica twice", Reserve{Name: "user/alice/New", Backend: "b1", Replicas: []string{"b2", "b2"}, Reservation: "x"}, ErrInvalidCommand},
		{"stride too small", Reserve{Name: "user/alice/New", Backend: "b1", Replicas: []string{"b2", "b3"}, Stride: 2, Reservation: "x"}, ErrInvalidCommand},
		{"no reservation id", Reserve{Name: "user/alice/New", Backend: "b1"}, ErrInvalidCommand},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.t = t
			f.fails(tt.cmd, tt.want)
		})
	}
	f.t = t
	mb := f.ok(Reserve{Name: "user/alice/Three", Backend: "b1", Replicas: []string{"b2", "b3"}, Reservation: "x"}).Mailbox
	if mb.Stride != 3 || mb.Replicas[1] != (Copy{"b3", 2}) {
		t.Fatalf("three copies: %+v", mb)
	}
}

func TestTwoReservesOneWins(t *testing.T) {
	f := newTestFSM(t)
	f.ok(Reserve{Name: "shared/news", Backend: "b1", Reservation: "first"})
	f.fails(Reserve{Name: "shared/news", Backend: "b2", Reservation: "second"}, ErrNotActive)
	f.fails(Activate{Name: "shared/news", Reservation: "second"}, ErrWrongReservation)
	f.fails(Release{Name: "shared/news", Reservation: "second"}, ErrWrongReservation)
	mb := f.ok(Activate{Name: "shared/news", Reservation: "first"}).Mailbox
	if mb.Primary.Backend != "b1" {
		t.Fatalf("winner is on %s", mb.Primary.Backend)
	}
}

func TestActivateReleaseRules(t *testing.T) {
	f := newTestFSM(t)
	f.create("user/bob/INBOX")
	f.fails(Activate{Name: "user/bob/None", Reservation: "r"}, ErrNoMailbox)
	f.fails(Release{Name: "user/bob/None", Reservation: "r"}, ErrNoMailbox)
	f.fails(Activate{Name: "user/bob/INBOX", Reservation: "other"}, ErrWrongReservation)
	f.fails(Release{Name: "user/bob/INBOX", Reservation: "r-user/bob/INBOX"}, ErrWrongReservation)

	f.ok(Reserve{Name: "user/bob/Tmp", Backend: "b2", Reservation: "rt"})
	if r := f.ok(Release{Name: "user/bob/Tmp", Reservation: "rt"}); r.Count != 1 {
		t.Fatalf("Release count %d", r.Count)
	}
	if _, ok := f.Mailbox("user/bob/Tmp"); ok {
		t.Fatal("released mailbox still there")
	}
	// The name is free again, under a new id.
	mb := f.ok(Reserve{Name: "user/bob/Tmp", Backend: "b2", Reservation: "rt2"}).Mailbox
	if mb.ID != 3 {
		t.Fatalf("id %d, want 3 (ids are never reused)", mb.ID)
	}
}

func TestDeleteLifeCycle(t *testing.T) {
	f := newTestFSM(t)
	mb := f.create("user/alice/Old")
	f.ok(Subscribe{User: "alice", Name: "user/alice/Old"})
	f.fails(MarkDeleting{Name: "user/alice/None"}, ErrNoMailbox)
	f.ok(Reserve{Name: "user/alice/Pending", Backend: "b1", Reservation: "p"})
	f.fails(MarkDeleting{Name: "user/alice/Pending"}, ErrNotActive)
	if got := f.ok(MarkDeleting{Name: "user/alice/Old"}).Mailbox; got.State != Deleting {
		t.Fatalf("state %s", got.State)
	}
	f.fails(MarkDeleting{Name: "user/alice/Old"}, ErrNotActive)
	f.fails(Remove{Name: "user/alice/Old", ID: mb.ID + 100}, ErrNoMailbox)
	f.fails(Remove{Name: "user/alice/None", ID: mb.ID}, ErrNoMailbox)
	f.ok(Remove{Name: "user/alice/Old", ID: mb.ID})
	if _, ok := f.MailboxByID(mb.ID); ok {
		t.Fatal("removed mailbox still found by id")
	}
	if subs := f.Subscriptions("alice"); !slices.Equal(subs, []string{"user/alice/Old"}) {
		t.Fatalf("subscriptions %v: Remove must keep them", subs)
	}
	// Remove works in any state, e.g. to drop a reservation for good.
	p := f.mustMailbox("user/alice/Pending")
	f.ok(Remove{Name: p.Name, ID: p.ID})
}

func TestRename(t *testing.T) {
	f := newTestFSM(t)
	for _, n := range []string{"user/alice/INBOX", "user/alice/a", "user/alice/a/b", "user/alice/a/b/c", "user/alice/ab", "user/alice/x"} {
		f.create(n)
	}
	ids := map[string]uint64{}
	f.Mailboxes("user/alice/a", func(mb *Mailbox) bool { ids[mb.Name] = mb.ID; return true })

	r := f.ok(Rename{From: "user/alice/a", To: "user/alice/z/y"})
	if r.Count != 3 || r.Mailbox.Name != "user/alice/z/y" {
		t.Fatalf("rename result %+v", r)
	}
	want := []string{"user/alice/INBOX", "user/alice/ab", "user/alice/x", "user/alice/z/y", "user/alice/z/y/b", "user/alice/z/y/b/c"}
	if got := f.names("user/alice/"); !slices.Equal(got, want) {
		t.Fatalf("names %v, want %v", got, want)
	}
	for old, id := range ids {
		if old == "user/alice/ab" {
			continue
		}
		mb, ok := f.MailboxByID(id)
		if !ok || mb.Name != "user/alice/z/y"+old[len("user/alice/a"):] {
			t.Fatalf("id %d of %s is now %+v", id, old, mb)
		}
	}
}

func TestRenameRules(t *testing.T) {
	f := newTestFSM(t)
	for _, n := range []string{"user/alice/INBOX", "user/alice/INBOX/sub", "user/alice/a", "user/alice/a/b", "user/alice/c", "user/alice/d/b"} {
		f.create(n)
	}
	f.ok(Reserve{Name: "user/alice/p/q", Backend: "b1", Reservation: "rq"})
	f.create("user/alice/p")
	tests := []struct {
		name string
		cmd  Rename
		want error
	}{
		{"missing", Rename{From: "user/alice/none", To: "user/alice/new"}, ErrNoMailbox},
		{"target exists", Rename{From: "user/alice/a", To: "user/alice/c"}, ErrNameExists},
		{"child target exists", Rename{From: "user/alice/a", To: "user/alice/d"}, ErrNameExists},
		{"invalid target", Rename{From: "user/alice/a", To: "user/alice"}, ErrInvalidName},
		{"below itself", Rename{From: "user/alice/a", To: "user/alice/a/x"}, ErrInvalidCommand},
		{"to itself", Rename{From: "user/alice/a", To: "user/alice/a"}, ErrInvalidCommand},
		{"inbox", Rename{From: "user/alice/INBOX", To: "user/alice/old"}, ErrInvalidCommand},
		{"reserved child", Rename{From: "user/alice/p", To: "user/alice/pp"}, ErrNotActive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.t = t
			f.fails(tt.cmd, tt.want)
		})
	}
	f.t = t
	f.ok(MarkDeleting{Name: "user/alice/c"})
	f.fails(Rename{From: "user/alice/c", To: "user/alice/e"}, ErrNotActive)
	// A folder below INBOX may move.
	f.ok(Rename{From: "user/alice/INBOX/sub", To: "user/alice/sub"})
}

// Renaming a/b to a moves a/b/b to a/b: a name that is moving away is free.
func TestRenameOntoMovingName(t *testing.T) {
	f := newTestFSM(t)
	f.create("shared/a/b")
	f.create("shared/a/b/b")
	f.ok(Rename{From: "shared/a/b", To: "shared/a"})
	if got := f.names("shared/"); !slices.Equal(got, []string{"shared/a", "shared/a/b"}) {
		t.Fatalf("names %v", got)
	}
}

func TestSetACL(t *testing.T) {
	f := newTestFSM(t)
	f.create("shared/news")
	f.fails(SetACL{Name: "shared/none", Identifier: "bob", Rights: "lr"}, ErrNoMailbox)
	f.fails(SetACL{Name: "shared/news", Identifier: "bob", Rights: "lrz"}, ErrInvalidACL)
	f.fails(SetACL{Name: "shared/news", Identifier: "bad user!", Rights: "lr"}, ErrInvalidACL)
	f.ok(SetACL{Name: "shared/news", Identifier: "Bob", Rights: "rlcd"})
	f.ok(SetACL{Name: "shared/news", Identifier: "anyone", Rights: "l"})
	f.ok(SetACL{Name: "shared/news", Identifier: "-alice", Rights: "w"})
	want := []ACE{{"-alice", "w"}, {"anyone", "l"}, {"bob", "lrkxte"}}
	if got := f.mustMailbox("shared/news").ACL; !slices.Equal(got, want) {
		t.Fatalf("ACL %v, want %v", got, want)
	}
	f.ok(SetACL{Name: "shared/news", Identifier: "bob", Rights: ""})
	if got := f.mustMailbox("shared/news").ACL; !slices.Equal(got, want[:2]) {
		t.Fatalf("ACL after removal %v", got)
	}
}

func TestReleaseReservations(t *testing.T) {
	f := newTestFSM(t)
	f.create("shared/active") // reserved at 10 on b1, but active: never released
	f.ok(Reserve{Name: "shared/b1-old", Backend: "b1", Reservation: "1", At: 100})
	f.ok(Reserve{Name: "shared/b1-new", Backend: "b1", Reservation: "2", At: 900})
	f.ok(Reserve{Name: "shared/b2-old", Backend: "b2", Reservation: "3", At: 100})
	f.ok(Reserve{Name: "shared/b2-new", Backend: "b2", Reservation: "4", At: 900})
	f.fails(ReleaseReservations{}, ErrInvalidCommand)

	if r := f.ok(ReleaseReservations{Backend: "b1"}); r.Count != 2 {
		t.Fatalf("by backend: count %d, want 2", r.Count)
	}
	if got := f.names("shared/"); !slices.Equal(got, []string{"shared/active", "shared/b2-new", "shared/b2-old"}) {
		t.Fatalf("after release by backend: %v", got)
	}
	if r := f.ok(ReleaseReservations{Before: 500}); r.Count != 1 {
		t.Fatalf("by age: count %d, want 1", r.Count)
	}
	if got := f.names("shared/"); !slices.Equal(got, []string{"shared/active", "shared/b2-new"}) {
		t.Fatalf("after release by age: %v", got)
	}
	var reserved []string
	f.Reservations(func(mb *Mailbox) bool { reserved = append(reserved, mb.Name); return true })
	if !slices.Equal(reserved, []string{"shared/b2-new"}) {
		t.Fatalf("reservations %v", reserved)
	}
}

func TestApplyIgnoresUnknownWithFlag(t *testing.T) {
	f := newTestFSM(t)
	before := f.Digest()
	entry := []byte{byte(IgnoreUnknown | 100), 1, 2, 3}
	f.index++
	r := f.Apply(logAt(f.index, entry)).(Result)
	if r.Err != nil || r.Index != f.index || f.Digest() != before {
		t.Fatalf("ignorable entry: %+v", r)
	}
	if f.AppliedIndex() != f.index {
		t.Fatalf("applied %d, want %d", f.AppliedIndex(), f.index)
	}
}

func TestApplyPanicsOnUndecodable(t *testing.T) {
	f := newTestFSM(t)
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for an entry of unknown type")
		}
	}()
	f.Apply(logAt(99, []byte{100, 1}))
}

func TestErrorCodes(t *testing.T) {
	for _, c := range errorCodes {
		wrapped := errors.Join(errors.New("context"), c.err)
		if got := ErrorCode(wrapped); got != c.code {
			t.Fatalf("ErrorCode(%v) = %q, want %q", c.err, got, c.code)
		}
		if ErrorFromCode(c.code) != c.err {
			t.Fatalf("ErrorFromCode(%q) is not %v", c.code, c.err)
		}
	}
	if ErrorCode(nil) != "" || ErrorFromCode("") != nil {
		t.Fatal("nil error must map to the empty code and back")
	}
	if ErrorCode(errors.New("other")) != CodeUnknown {
		t.Fatal("foreign error must map to CodeUnknown")
	}
	err := ErrorFromCode("from_the_future")
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			t.Fatalf("unknown code matched %v", c.err)
		}
	}
}

// TestRemoveDeletions: the deletes begun on a backend that went down are
// finished for it; nothing else is touched, and Deletions lists what is
// left to finish.
func TestRemoveDeletions(t *testing.T) {
	f := newTestFSM(t)
	f.create("shared/keep")
	f.create("shared/gone")
	f.create("shared/gone/child")
	f.ok(Reserve{Name: "shared/elsewhere", Backend: "b2", Reservation: "e", At: 10})
	f.ok(Activate{Name: "shared/elsewhere", Reservation: "e"})
	for _, n := range []string{"shared/gone", "shared/gone/child", "shared/elsewhere"} {
		f.ok(MarkDeleting{Name: n})
	}
	f.ok(Reserve{Name: "shared/pending", Backend: "b1", Reservation: "p", At: 20})
	f.fails(RemoveDeletions{}, ErrInvalidCommand)

	if r := f.ok(RemoveDeletions{Backend: "b1"}); r.Count != 2 {
		t.Fatalf("count %d, want 2", r.Count)
	}
	if got := f.names("shared/"); !slices.Equal(got, []string{"shared/elsewhere", "shared/keep", "shared/pending"}) {
		t.Fatalf("after RemoveDeletions: %v", got)
	}
	var deleting, reserved []string
	f.View().Deletions(func(mb *Mailbox) bool { deleting = append(deleting, mb.Name); return true })
	f.Reservations(func(mb *Mailbox) bool { reserved = append(reserved, mb.Name); return true })
	if !slices.Equal(deleting, []string{"shared/elsewhere"}) || !slices.Equal(reserved, []string{"shared/pending"}) {
		t.Fatalf("deletions %v, reservations %v", deleting, reserved)
	}
	// The name is free again.
	f.create("shared/gone")
}
