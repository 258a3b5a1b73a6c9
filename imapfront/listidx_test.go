package imapfront

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/rookery-mail/rookery/fsm"
)

// TestListGrantsEqualWalk checks LIST "" * against what a walk of every
// mailbox finds visible, over random ACLs: grants to the user and to
// anyone, negative entries, mailboxes being deleted, renames, a user
// deleted, and grants taken back.
func TestListGrantsEqualWalk(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 0))
	dir := newLocalDirectory()
	dir.addUser(t, "alice", "secret")
	users := []string{"alice", "bob", "carol", "dave"}
	var names []string
	for _, u := range users {
		for _, folder := range []string{"INBOX", "a", "a/b", "c"} {
			name := "user/" + u + "/" + folder
			dir.addMailbox(t, name, "b1")
			names = append(names, name)
		}
	}
	for _, n := range []string{"shared/x", "shared/x/y", "shared/z"} {
		dir.addMailbox(t, n, "b1")
		names = append(names, n)
	}
	idents := []string{"alice", "anyone", "-alice", "-anyone", "bob"}
	rights := []string{"lr", "r", "l", ""}
	for range 60 {
		name := names[rng.IntN(len(names))]
		dir.Apply(t.Context(), fsm.SetACL{Name: name, Identifier: idents[rng.IntN(len(idents))], Rights: rights[rng.IntN(len(rights))]})
	}
	dir.mustApply(t, fsm.MarkDeleting{Name: "user/carol/c"})
	dir.mustApply(t, fsm.Rename{From: "user/bob/a", To: "user/dave/from-bob"})
	for _, n := range []string{"user/bob/granted", "user/dave/public", "user/dave/revoked"} {
		dir.addMailbox(t, n, "b2")
	}
	dir.mustApply(t, fsm.SetACL{Name: "user/bob/granted", Identifier: "alice", Rights: "lr"})
	dir.mustApply(t, fsm.Rename{From: "user/bob/granted", To: "user/dave/granted"})
	dir.mustApply(t, fsm.SetACL{Name: "user/dave/public", Identifier: "anyone", Rights: "lr"})
	dir.mustApply(t, fsm.SetACL{Name: "user/dave/revoked", Identifier: "alice", Rights: "lr"})
	dir.mustApply(t, fsm.SetACL{Name: "user/dave/revoked", Identifier: "alice", Rights: ""})
	dir.addUser(t, "erin", "secret")
	dir.mustApply(t, fsm.UserDelete{Name: "erin"})

	addr, _ := startFrontend(t, testConfig(t, dir))
	rc := loggedIn(t, addr, "alice")
	var got []string
	for _, l := range rc.collect("a", `LIST "" *`, "OK") {
		_, name, _ := strings.Cut(l, `"/" `)
		got = append(got, strings.Trim(name, `"`))
	}

	want := map[string]bool{}
	dir.f.Mailboxes("", func(m *fsm.Mailbox) bool {
		if !visible("alice", m) {
			return true
		}
		name := fsm.External("alice", m.Name)
		for p := name; p != ""; p = parentOf(p) {
			want[p] = true
		}
		return true
	})
	wantNames := make([]string, 0, len(want))
	for n := range want {
		wantNames = append(wantNames, n)
	}
	slices.Sort(wantNames)
	if !slices.Equal(got, wantNames) {
		t.Fatalf("LIST:\n%s\nthe walk finds:\n%s", strings.Join(got, "\n"), strings.Join(wantNames, "\n"))
	}
	if !slices.Contains(got, "Other Users/dave/granted") || !slices.Contains(got, "Other Users/dave/public") {
		t.Fatalf("LIST lacks the grants set last: %v", got)
	}
	if slices.Contains(got, "Other Users/dave/revoked") {
		t.Fatalf("LIST shows a grant taken back: %v", got)
	}
}

// TestPlacementCountsFromDirectory checks that CREATE's placement weighs
// the directory's per-backend counts (by weight) and spreads a burst.
func TestPlacementCountsFromDirectory(t *testing.T) {
	dir := newLocalDirectory()
	for i := range 6 {
		dir.addMailbox(t, fmt.Sprintf("shared/on1/%d", i), "b1")
	}
	for i := range 2 {
		dir.addMailbox(t, fmt.Sprintf("shared/on2/%d", i), "b2")
	}
	dir.mustApply(t, fsm.BackendRegister{ID: "b2", IMAPAddr: "127.0.0.1:1", Weight: 2, At: 1})
	var l backendLoad
	v := dir.f.View()
	// b1: 6 a unit of weight, b2: 2/2 = 1; b2 takes picks until 2+n > 12.
	for i := range 10 {
		got, err := l.leastLoaded(v)
		if err != nil {
			t.Fatal(err)
		}
		if got != "b2" {
			t.Fatalf("pick %d went to %s, want b2", i, got)
		}
	}
	if got, _ := l.leastLoaded(v); got != "b1" {
		t.Fatalf("pick 11 went to %s, want b1 (b2 holds 2 and 10 picks at weight 2)", got)
	}
}
