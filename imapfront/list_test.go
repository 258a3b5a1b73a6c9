package imapfront

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rookery-mail/rookery/fsm"
)

// addMailbox creates an active mailbox straight in the directory.
func (d *localDirectory) addMailbox(t testing.TB, name, backend string) {
	t.Helper()
	if _, ok := d.f.Backend(backend); !ok {
		d.mustApply(t, fsm.BackendRegister{ID: backend, IMAPAddr: "127.0.0.1:1", Weight: 1, At: 1})
	}
	d.mustApply(t, fsm.Reserve{Name: name, Backend: backend, Reservation: "r-" + name, At: 1})
	d.mustApply(t, fsm.Activate{Name: name, Reservation: "r-" + name})
}

func loggedIn(t *testing.T, addr, user string) *rawClient {
	rc := dialRaw(t, addr)
	rc.send("l LOGIN " + user + " secret\r\n")
	if l := rc.until("l "); !strings.HasPrefix(l, "l OK") {
		t.Fatalf("login: %q", l)
	}
	return rc
}

// collect runs a command and returns its untagged lines, failing unless
// the tagged status is want.
func (rc *rawClient) collect(tag, cmd, want string) []string {
	rc.t.Helper()
	rc.send(tag + " " + cmd + "\r\n")
	var lines []string
	for {
		l := rc.line()
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" "+want) {
				rc.t.Fatalf("%s: %q, want %s", cmd, l, want)
			}
			return lines
		}
		lines = append(lines, l)
	}
}

func TestListFromDirectory(t *testing.T) {
	dir := newLocalDirectory()
	dir.addUser(t, "alice", "secret")
	dir.addUser(t, "bob", "secret")
	for _, n := range []string{"INBOX", "INBOX/lists", "Sent", "a/b/c", "Entwürfe"} {
		dir.addMailbox(t, "user/alice/"+n, "b1")
	}
	dir.addMailbox(t, "user/bob/INBOX", "b2")
	dir.addMailbox(t, "user/bob/Shared stuff", "b2")
	dir.addMailbox(t, "user/bob/Private", "b2")
	dir.addMailbox(t, "shared/news", "b1")
	dir.mustApply(t, fsm.SetACL{Name: "user/bob/Shared stuff", Identifier: "alice", Rights: "lr"})
	dir.mustApply(t, fsm.SetACL{Name: "shared/news", Identifier: "anyone", Rights: "lr"})
	addr, _ := startFrontend(t, testConfig(t, dir))
	rc := loggedIn(t, addr, "alice")

	got := strings.Join(rc.collect("a", `LIST "" *`, "OK"), "\n")
	want := strings.Join([]string{
		`* LIST (\HasNoChildren) "/" "Entw&APw-rfe"`,
		`* LIST (\HasChildren) "/" "INBOX"`,
		`* LIST (\HasNoChildren) "/" "INBOX/lists"`,
		`* LIST (\Noselect \HasChildren) "/" "Other Users"`,
		`* LIST (\Noselect \HasChildren) "/" "Other Users/bob"`,
		`* LIST (\HasNoChildren) "/" "Other Users/bob/Shared stuff"`,
		`* LIST (\HasNoChildren) "/" "Sent"`,
		`* LIST (\Noselect \HasChildren) "/" "Shared"`,
		`* LIST (\HasNoChildren) "/" "Shared/news"`,
		`* LIST (\Noselect \HasChildren) "/" "a"`,
		`* LIST (\Noselect \HasChildren) "/" "a/b"`,
		`* LIST (\HasNoChildren) "/" "a/b/c"`,
	}, "\n")
	if got != want {
		t.Fatalf("LIST *:\n%s\nwant:\n%s", got, want)
	}
	if got := rc.collect("b", `LIST "" %`, "OK"); len(got) != 6 {
		t.Fatalf("LIST %%: %q", got)
	}
	if got := rc.collect("c", `LIST "" inbox`, "OK"); len(got) != 1 || !strings.HasSuffix(got[0], `"INBOX"`) {
		t.Fatalf("LIST inbox: %q", got)
	}
	if got := rc.collect("d", `LIST "" ""`, "OK"); len(got) != 1 || got[0] != `* LIST (\Noselect) "/" ""` {
		t.Fatalf("LIST \"\": %q", got)
	}
	rc.collect("e", `SUBSCRIBE Sent`, "OK")
	rc.collect("f", `SUBSCRIBE "a/b/c"`, "OK")
	if got := rc.collect("g", `LSUB "" *`, "OK"); len(got) != 2 {
		t.Fatalf("LSUB: %q", got)
	}
	sub := rc.collect("h", `LIST (SUBSCRIBED RECURSIVEMATCH) "" % RETURN (CHILDREN)`, "OK")
	if strings.Join(sub, "\n") != "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Sent\"\n* LIST (\\NonExistent \\HasChildren) \"/\" \"a\" (\"CHILDINFO\" (\"SUBSCRIBED\"))" {
		t.Fatalf("LIST SUBSCRIBED RECURSIVEMATCH: %q", sub)
	}
	rc.collect("i", `UNSUBSCRIBE Sent`, "OK")
	if got := rc.collect("j", `LSUB "" *`, "OK"); len(got) != 1 {
		t.Fatalf("LSUB after UNSUBSCRIBE: %q", got)
	}
	if got := rc.collect("k", "NAMESPACE", "OK"); got[0] != `* NAMESPACE (("" "/")) (("Other Users/" "/")) (("Shared/" "/"))` {
		t.Fatalf("NAMESPACE: %q", got)
	}
	rc.collect("m", `LIST (BOGUS) "" *`, "BAD")
	rc.collect("n", `LIST "" "Other Users/bob/Private"`, "OK")
}

func TestACLAndRename(t *testing.T) {
	dir := newLocalDirectory()
	dir.addUser(t, "alice", "secret")
	dir.addUser(t, "bob", "secret")
	dir.addMailbox(t, "user/alice/INBOX", "b1")
	dir.addMailbox(t, "user/alice/Projects", "b1")
	dir.addMailbox(t, "user/alice/Projects/x", "b1")
	addr, _ := startFrontend(t, testConfig(t, dir))
	alice := loggedIn(t, addr, "alice")
	bob := loggedIn(t, addr, "bob")

	if got := bob.collect("a", `LIST "" "Other Users/*"`, "OK"); len(got) != 0 {
		t.Fatalf("bob sees alice's folders before SETACL: %q", got)
	}
	bob.collect("b", `MYRIGHTS "Other Users/alice/Projects"`, "NO [NONEXISTENT]")
	alice.collect("c", `SETACL Projects bob lr`, "OK")
	alice.collect("d", `SETACL Projects bob +w`, "OK")
	got := alice.collect("e", `GETACL Projects`, "OK")
	if len(got) != 1 || got[0] != `* ACL "Projects" "alice" lrswipkxtea "bob" "lrw"` {
		t.Fatalf("GETACL: %q", got)
	}
	if got := bob.collect("f", `MYRIGHTS "Other Users/alice/Projects"`, "OK"); got[0] != `* MYRIGHTS "Other Users/alice/Projects" "lrw"` {
		t.Fatalf("MYRIGHTS: %q", got)
	}
	bob.collect("g", `SETACL "Other Users/alice/Projects" bob lrswipkxtea`, "NO [NOPERM]")
	bob.collect("h", `GETACL "Other Users/alice/Projects"`, "NO [NOPERM]")
	alice.collect("i", `LISTRIGHTS Projects bob`, "OK")
	alice.collect("j", `DELETEACL Projects bob`, "OK")
	bob.collect("k", `MYRIGHTS "Other Users/alice/Projects"`, "NO [NONEXISTENT]")

	alice.collect("l", `RENAME Projects Archive`, "OK")
	got = alice.collect("m", `LIST "" *`, "OK")
	if fmt.Sprint(got) != `[* LIST (\HasChildren) "/" "Archive" * LIST (\HasNoChildren) "/" "Archive/x" * LIST (\HasNoChildren) "/" "INBOX"]` {
		t.Fatalf("LIST after RENAME: %q", got)
	}
	alice.collect("n", `RENAME Archive INBOX`, "NO [ALREADYEXISTS]")
	alice.collect("o", `RENAME Nothing Else`, "NO [NONEXISTENT]")
	alice.collect("p", `RENAME Archive "a/%"`, "NO [CANNOT]")
}

// TestReservedNameIsBusy: a name held by another create in progress is
// neither free nor existing. CREATE and SELECT say "try again" (INUSE), so a
// client is never told "exists" about a name that then vanishes when the
// reservation is released, and once it is released CREATE gets as far as
// the backend.
func TestReservedNameIsBusy(t *testing.T) {
	dir := newLocalDirectory()
	dir.addUser(t, "alice", "secret")
	dir.addMailbox(t, "user/alice/INBOX", "b1")
	dir.mustApply(t, fsm.Reserve{Name: "user/alice/Pending", Backend: "b1", Reservation: "elsewhere", At: 1})
	addr, _ := startFrontend(t, testConfig(t, dir))
	rc := loggedIn(t, addr, "alice")

	rc.collect("c1", "CREATE Pending", "NO [INUSE]")
	rc.collect("s1", "SELECT Pending", "NO [INUSE]")
	rc.collect("c2", "CREATE INBOX", "NO [ALREADYEXISTS]")

	dir.mustApply(t, fsm.Release{Name: "user/alice/Pending", Reservation: "elsewhere"})
	// The name is free again: the frontend passes the create on to the
	// backend, which this test does not run, so the answer is UNAVAILABLE.
	rc.collect("c3", "CREATE Pending", "NO [UNAVAILABLE]")
}
