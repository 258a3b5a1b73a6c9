package fsm

import "testing"

// A View keeps the state it was taken at: writes after it change neither
// what it returns nor its Index.
func TestViewIsPinned(t *testing.T) {
	f := newTestFSM(t)
	f.create("user/alice/INBOX")
	v := f.View()
	at := v.Index()
	if at != f.AppliedIndex() {
		t.Fatalf("Index = %d, AppliedIndex = %d", at, f.AppliedIndex())
	}

	f.create("user/alice/Later")
	f.ok(Subscribe{User: "alice", Name: "user/alice/Later"})
	f.ok(UserAdd{Name: "carol", PasswordHash: "$2a$z", At: 2})
	f.ok(SetBackendState{ID: "b3", State: BackendDown, At: 2})

	if v.Index() != at {
		t.Fatalf("Index moved from %d to %d", at, v.Index())
	}
	if _, ok := v.Mailbox("user/alice/Later"); ok {
		t.Fatal("a view sees a mailbox created after it was taken")
	}
	if n := v.MailboxCount(); n != 1 {
		t.Fatalf("MailboxCount = %d, want 1", n)
	}
	if subs := v.Subscriptions("alice"); len(subs) != 0 {
		t.Fatalf("Subscriptions = %v", subs)
	}
	if _, ok := v.User("carol"); ok {
		t.Fatal("a view sees a user added after it was taken")
	}
	if b, _ := v.Backend("b3"); b.State != BackendUp {
		t.Fatalf("b3 is %s in the view", b.State)
	}

	now := f.View()
	if now.Index() <= at {
		t.Fatalf("new view at %d, old at %d", now.Index(), at)
	}
	if _, ok := now.Mailbox("user/alice/Later"); !ok {
		t.Fatal("a new view lacks the new mailbox")
	}
	if got := f.FSM.Subscriptions("alice"); len(got) != 1 {
		t.Fatalf("FSM.Subscriptions = %v", got)
	}
}
