package fsm

import (
	"errors"
	"slices"
	"testing"
)

func TestUsers(t *testing.T) {
	f := newTestFSM(t)
	f.fails(UserAdd{Name: "Alice"}, ErrUserExists) // canonical form exists
	f.fails(UserAdd{Name: "bad+detail"}, ErrInvalidUser)
	f.fails(UserAdd{Name: "carol", QuotaBytes: -1}, ErrInvalidCommand)
	f.fails(UserPasswd{Name: "nobody", PasswordHash: "h"}, ErrNoUser)
	f.fails(UserDelete{Name: "nobody"}, ErrNoUser)

	f.ok(UserAdd{Name: "Carol@Example.com", PasswordHash: "h1", QuotaBytes: 1 << 30, At: 42})
	u, ok := f.User("CAROL@example.com")
	if !ok || u.Name != "carol@example.com" || u.State != UserActive || u.QuotaBytes != 1<<30 || u.CreatedAt != 42 {
		t.Fatalf("User = %+v, %v", u, ok)
	}
	f.ok(UserPasswd{Name: "carol@example.com", PasswordHash: "h2"})
	if u2, _ := f.User("carol@example.com"); u2.PasswordHash != "h2" || u.PasswordHash != "h1" {
		t.Fatalf("passwd: new %q, old record %q", u2.PasswordHash, u.PasswordHash)
	}
	f.fails(UserQuota{Name: "nobody", QuotaBytes: 1}, ErrNoUser)
	f.fails(UserQuota{Name: "carol@example.com", QuotaBytes: -1}, ErrInvalidCommand)
	f.ok(UserQuota{Name: "Carol@example.com", QuotaBytes: 5 << 20})
	if u3, _ := f.User("carol@example.com"); u3.QuotaBytes != 5<<20 || u3.PasswordHash != "h2" || u.QuotaBytes != 1<<30 {
		t.Fatalf("quota: new %+v, old record %+v", u3, u)
	}
	f.ok(UserQuota{Name: "carol@example.com"})
	if u4, _ := f.User("carol@example.com"); u4.QuotaBytes != 0 {
		t.Fatalf("quota 0 should remove the limit: %+v", u4)
	}
	var names []string
	f.Users(func(u *User) bool { names = append(names, u.Name); return true })
	if !slices.Equal(names, []string{"alice", "bob", "carol@example.com"}) {
		t.Fatalf("Users %v", names)
	}

	f.ok(Subscribe{User: "carol@example.com", Name: "shared/x"})
	f.ok(UserDelete{Name: "carol@example.com"})
	if _, ok := f.User("carol@example.com"); ok {
		t.Fatal("deleted user still there")
	}
	f.ok(UserAdd{Name: "carol@example.com"})
	if subs := f.Subscriptions("carol@example.com"); len(subs) != 0 {
		t.Fatalf("a new account inherited subscriptions %v", subs)
	}
}

func TestSubscriptions(t *testing.T) {
	f := newTestFSM(t)
	f.fails(Subscribe{User: "nobody", Name: "shared/x"}, ErrNoUser)
	f.fails(Subscribe{User: "alice", Name: "not/a/name"}, ErrInvalidName)
	f.ok(Subscribe{User: "alice", Name: "user/bob/Sent"}) // need not own it, nor exist
	f.ok(Subscribe{User: "Alice", Name: "shared/news"})
	if r := f.ok(Subscribe{User: "alice", Name: "shared/news"}); r.Count != 0 {
		t.Fatalf("second subscribe counted %d", r.Count)
	}
	f.ok(Subscribe{User: "bob", Name: "shared/news"})
	if got := f.Subscriptions("alice"); !slices.Equal(got, []string{"shared/news", "user/bob/Sent"}) {
		t.Fatalf("alice %v", got)
	}
	f.ok(Unsubscribe{User: "alice", Name: "shared/news"})
	if r := f.ok(Unsubscribe{User: "alice", Name: "shared/news"}); r.Count != 0 {
		t.Fatalf("second unsubscribe counted %d", r.Count)
	}
	if got := f.Subscriptions("alice"); !slices.Equal(got, []string{"user/bob/Sent"}) {
		t.Fatalf("alice after unsubscribe %v", got)
	}
	if got := f.Subscriptions("bob"); !slices.Equal(got, []string{"shared/news"}) {
		t.Fatalf("bob %v", got)
	}
}

func TestBackends(t *testing.T) {
	f := newTestFSM(t)
	f.fails(BackendRegister{ID: ""}, ErrInvalidCommand)
	f.fails(BackendRegister{ID: "a b"}, ErrInvalidCommand)
	f.fails(SetBackendState{ID: "b9", State: BackendDown}, ErrNoBackend)
	f.fails(SetBackendState{ID: "b1", State: 0}, ErrInvalidCommand)
	f.fails(SetBackendState{ID: "b1", State: 9}, ErrInvalidCommand)

	f.ok(SetBackendState{ID: "b2", State: BackendDraining, At: 7})
	f.ok(BackendRegister{ID: "b2", IMAPAddr: "new:143", Weight: 5, At: 8})
	b, ok := f.Backend("b2")
	if !ok || b.State != BackendDraining || b.IMAPAddr != "new:143" || b.Weight != 5 || b.Since != 7 {
		t.Fatalf("re-registered backend %+v", b)
	}
	f.ok(BackendRegister{ID: "a0", At: 9})
	var ids []string
	for _, b := range f.Backends() {
		ids = append(ids, b.ID+"="+b.State.String())
	}
	if !slices.Equal(ids, []string{"a0=up", "b1=up", "b2=draining", "b3=up"}) {
		t.Fatalf("Backends %v", ids)
	}
}

func TestDeliveryTarget(t *testing.T) {
	f := newTestFSM(t)
	if _, err := f.DeliveryTarget("alice", ""); !errors.Is(err, ErrNoMailbox) {
		t.Fatalf("no INBOX: %v", err)
	}
	inbox := f.create("user/alice/INBOX")
	f.create("user/alice/lists")
	f.create("user/alice/INBOX/work")
	f.create("user/bob/INBOX")
	f.create("shared/news")
	f.ok(Reserve{Name: "user/alice/pending", Backend: "b1", Reservation: "p"})
	f.ok(SetACL{Name: "user/alice/lists", Identifier: "anyone", Rights: "p"})
	f.ok(SetACL{Name: "user/alice/INBOX/work", Identifier: "postmaster", Rights: "p"})

	tests := []struct {
		user, detail, want string
		err                error
	}{
		{"alice", "", "user/alice/INBOX", nil},
		{"ALICE", "lists", "user/alice/lists", nil},
		{"alice", "inbox/work", "user/alice/INBOX/work", nil},
		{"alice", "nosuch", "user/alice/INBOX", nil},
		{"alice", "pending", "user/alice/INBOX", nil},
		{"alice", "Shared/news", "user/alice/INBOX", nil},
		{"alice", "Other Users/bob/INBOX", "user/alice/INBOX", nil},
		{"alice", "bad*name", "user/alice/INBOX", nil},
		{"nobody", "", "", ErrNoUser},
		{"bad+user", "", "", ErrNoUser},
	}
	for _, tt := range tests {
		mb, err := f.DeliveryTarget(tt.user, tt.detail)
		if !errors.Is(err, tt.err) || (tt.err == nil && mb.Name != tt.want) {
			t.Errorf("DeliveryTarget(%q, %q) = %v, %v; want %s, %v", tt.user, tt.detail, mb, err, tt.want, tt.err)
		}
	}

	// A moving INBOX is returned with ErrMailboxMoving: retry, do not bounce.
	f.work.names.ReplaceOrInsert(nameEntry{name: inbox.Name, mb: &Mailbox{ID: inbox.ID, Name: inbox.Name, State: Moving}})
	f.dirty |= dirtyNames
	f.publishLocked(f.index)
	if mb, err := f.DeliveryTarget("alice", ""); !errors.Is(err, ErrMailboxMoving) || mb == nil || mb.State != Moving {
		t.Fatalf("moving INBOX: %v, %v", mb, err)
	}

	// An INBOX is marked only once its user is gone (inboxInUse); the
	// record is put in state Deleting directly to see DeliveryTarget's answer.
	f.forceState("user/bob/INBOX", Deleting)
	if _, err := f.DeliveryTarget("bob", ""); !errors.Is(err, ErrNoMailbox) {
		t.Fatalf("deleting INBOX: %v", err)
	}
}

func TestUserAdmin(t *testing.T) {
	f := newTestFSM(t)
	f.fails(UserAdmin{Name: "nobody", Admin: true}, ErrNoUser)
	if r := f.ok(UserAdmin{Name: "Alice", Admin: true}); r.Count != 1 {
		t.Fatalf("set admin counted %d", r.Count)
	}
	if u, _ := f.User("alice"); !u.Admin || u.PasswordHash != "$2a$x" {
		t.Fatalf("after UserAdmin: %+v", u)
	}
	if r := f.ok(UserAdmin{Name: "alice", Admin: true}); r.Count != 0 {
		t.Fatalf("second set admin counted %d", r.Count)
	}
	f.ok(UserAdmin{Name: "alice"})
	if u, _ := f.User("alice"); u.Admin {
		t.Fatalf("admin not cleared: %+v", u)
	}
}

// A command that sets what the record already holds counts 0: an import
// run twice reports its users as already there.
func TestUserUnchangedCountsZero(t *testing.T) {
	f := newTestFSM(t)
	f.ok(UserAdd{Name: "carol", PasswordHash: "h1", QuotaBytes: 10, At: 1})
	for _, c := range []struct {
		cmd  Command
		want int
	}{
		{UserPasswd{Name: "carol", PasswordHash: "h1"}, 0},
		{UserPasswd{Name: "carol", PasswordHash: "h2"}, 1},
		{UserQuota{Name: "carol", QuotaBytes: 10}, 0},
		{UserQuota{Name: "carol", QuotaBytes: 20}, 1},
	} {
		if r := f.ok(c.cmd); r.Count != c.want {
			t.Fatalf("%+v counted %d, want %d", c.cmd, r.Count, c.want)
		}
	}
}
