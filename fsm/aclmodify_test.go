package fsm

import (
	"errors"
	"slices"
	"testing"
)

// Two SETACLs proposed from the same stale copy both hold: the directory
// applies each modification to the rights it holds.
func TestModifyACLConcurrentBothHold(t *testing.T) {
	f := newTestFSM(t)
	f.create("shared/news")
	f.ok(SetACL{Name: "shared/news", Identifier: "bob", Rights: "l"})
	f.ok(ModifyACL{Name: "shared/news", Identifier: "bob", Mode: ACLAdd, Rights: "r"})
	f.ok(ModifyACL{Name: "shared/news", Identifier: "Bob", Mode: ACLAdd, Rights: "sw"})
	if got := entryRights(f.mustMailbox("shared/news"), "bob"); got != "lrsw" {
		t.Fatalf("after two adds: %q, want lrsw", got)
	}
	f.ok(ModifyACL{Name: "shared/news", Identifier: "bob", Mode: ACLRemove, Rights: "s"})
	f.ok(ModifyACL{Name: "shared/news", Identifier: "bob", Mode: ACLRemove, Rights: "d"}) // d: x, t and e
	if got := entryRights(f.mustMailbox("shared/news"), "bob"); got != "lrw" {
		t.Fatalf("after two removes: %q, want lrw", got)
	}
	f.ok(ModifyACL{Name: "shared/news", Identifier: "bob", Mode: ACLReplace, Rights: "l"})
	f.ok(ModifyACL{Name: "shared/news", Identifier: "bob", Mode: ACLRemove, Rights: "l"})
	if acl := f.mustMailbox("shared/news").ACL; acl != nil {
		t.Fatalf("an entry left with no rights stays: %v", acl)
	}
}

func TestModifyACLRefuses(t *testing.T) {
	f := newTestFSM(t)
	f.create("shared/news")
	f.fails(ModifyACL{Name: "shared/none", Identifier: "bob", Mode: ACLAdd, Rights: "l"}, ErrNoMailbox)
	f.fails(ModifyACL{Name: "shared/news", Identifier: "bob", Mode: ACLAdd, Rights: "z"}, ErrInvalidACL)
	f.fails(ModifyACL{Name: "shared/news", Identifier: "bad user!", Mode: ACLAdd, Rights: "l"}, ErrInvalidACL)
	f.fails(ModifyACL{Name: "shared/news", Identifier: "bob", Mode: 9, Rights: "l"}, ErrInvalidCommand)
}

func TestParseRightsModification(t *testing.T) {
	for _, tt := range []struct {
		mod    string
		mode   ACLMode
		rights string
		err    error
	}{
		{"lr", ACLReplace, "lr", nil},
		{"+rl", ACLAdd, "lr", nil},
		{"-c", ACLRemove, "kx", nil},
		{"", ACLReplace, "", nil},
		{"+", ACLAdd, "", nil},
		{"lrz", 0, "", ErrInvalidACL},
		{"+ ", 0, "", ErrInvalidACL},
	} {
		mode, rights, err := ParseRightsModification(tt.mod)
		if !errors.Is(err, tt.err) || (err == nil && (mode != tt.mode || rights != tt.rights)) {
			t.Errorf("ParseRightsModification(%q) = %v, %q, %v", tt.mod, mode, rights, err)
		}
	}
}

// A user granted "x" on another's INBOX cannot delete it, nor can anyone
// while its user exists; once the user is deleted it goes.
func TestInboxDeletedOnlyWithItsUser(t *testing.T) {
	f := newTestFSM(t)
	f.create("user/alice/INBOX")
	f.create("user/alice/INBOX/Sub")
	f.ok(SetACL{Name: "user/alice/INBOX", Identifier: "bob", Rights: "lrx"})
	f.fails(MarkDeleting{Name: "user/alice/INBOX"}, ErrInboxInUse)
	f.ok(MarkDeleting{Name: "user/alice/INBOX/Sub"})
	f.ok(UserDelete{Name: "alice"})
	f.ok(MarkDeleting{Name: "user/alice/INBOX"})
}

// Deleting a user drops every grant naming it, so that a new account of
// the same name inherits nothing; and the name is not given again while
// the old account's mailboxes remain.
func TestUserDeleteDropsGrantsAndHoldsName(t *testing.T) {
	f := newTestFSM(t)
	f.create("user/alice/INBOX")
	f.create("user/alice/Team")
	f.create("user/bob/INBOX")
	f.ok(SetACL{Name: "user/alice/Team", Identifier: "bob", Rights: "lr"})
	f.ok(SetACL{Name: "user/alice/Team", Identifier: "-bob", Rights: "w"})
	f.ok(SetACL{Name: "user/alice/Team", Identifier: "anyone", Rights: "l"})
	f.ok(UserDelete{Name: "bob"})
	if got, want := f.mustMailbox("user/alice/Team").ACL, []ACE{{"anyone", "l"}}; !slices.Equal(got, want) {
		t.Fatalf("ACL after deleting bob: %v, want %v", got, want)
	}
	f.fails(UserAdd{Name: "bob", PasswordHash: "$2a$z", At: 2}, ErrUserExists)
	f.ok(MarkDeleting{Name: "user/bob/INBOX"})
	f.ok(Remove{Name: "user/bob/INBOX", ID: f.mustMailbox("user/bob/INBOX").ID})
	f.ok(UserAdd{Name: "bob", PasswordHash: "$2a$z", At: 2})
	if rights := Rights("bob", f.mustMailbox("user/alice/Team")); rights != "l" {
		t.Fatalf("new bob's rights on alice's Team: %q, want l", rights)
	}
}

// A detail delivers into a folder only when anyone or the postmaster may
// post there (the Cyrus rule): a sender cannot file into Sent or Trash.
func TestDetailNeedsPostRight(t *testing.T) {
	f := newTestFSM(t)
	f.create("user/alice/INBOX")
	f.create("user/alice/Sent")
	f.create("user/alice/lists")
	f.ok(SetACL{Name: "user/alice/lists", Identifier: "anyone", Rights: "p"})
	for detail, want := range map[string]string{"Sent": "user/alice/INBOX", "lists": "user/alice/lists"} {
		if mb, err := f.DeliveryTarget("alice", detail); err != nil || mb.Name != want {
			t.Errorf("alice+%s: %v, %v; want %s", detail, mb, err, want)
		}
	}
	f.ok(SetACL{Name: "user/alice/lists", Identifier: "-anyone", Rights: "p"})
	if mb, err := f.DeliveryTarget("alice", "lists"); err != nil || mb.Name != "user/alice/INBOX" {
		t.Errorf("alice+lists with -anyone p: %v, %v", mb, err)
	}
}
