package imapfront

import (
	"testing"

	"github.com/rookery-mail/rookery/fsm"
)

// SETACL with a right RFC 4314 does not define is BAD, and nothing is
// proposed to the directory.
func TestSetACLBadRightsIsBad(t *testing.T) {
	dir := newLocalDirectory()
	dir.addUser(t, "alice", "secret")
	dir.addMailbox(t, "user/alice/Projects", "b1")
	addr, _ := startFrontend(t, testConfig(t, dir))
	alice := loggedIn(t, addr, "alice")

	before := dir.f.View().Index()
	alice.collect("a", `SETACL Projects bob lrz`, "BAD")
	alice.collect("b", `SETACL Projects bob +q`, "BAD")
	alice.collect("c", `SETACL Projects "bad user!" lr`, "BAD")
	if after := dir.f.View().Index(); after != before {
		t.Fatalf("a refused SETACL reached the directory: index %d -> %d", before, after)
	}
	alice.collect("d", `SETACL Projects -bob w`, "OK")
	if got := alice.collect("e", `GETACL Projects`, "OK"); got[0] != `* ACL "Projects" "alice" lrswipkxtea "-bob" "w"` {
		t.Fatalf("GETACL: %q", got)
	}
}

// CREATE and RENAME onto another user's folder the user cannot see answer
// as for a folder that does not exist: whether it exists is not told.
func TestCreateRenameHiddenFolderTellsNothing(t *testing.T) {
	dir := newLocalDirectory()
	dir.addUser(t, "alice", "secret")
	dir.addUser(t, "bob", "secret")
	dir.addMailbox(t, "user/alice/INBOX", "b1")
	dir.addMailbox(t, "user/alice/Private", "b1")
	dir.addMailbox(t, "user/bob/Mine", "b1")
	addr, _ := startFrontend(t, testConfig(t, dir))
	bob := loggedIn(t, addr, "bob")

	for _, name := range []string{"Private", "Missing"} {
		bob.collect("a", `CREATE "Other Users/alice/`+name+`"`, "NO [NOPERM]")
		bob.collect("b", `RENAME Mine "Other Users/alice/`+name+`"`, "NO [NOPERM]")
		bob.collect("c", `STATUS "Other Users/alice/`+name+`" (MESSAGES)`, "NO [NONEXISTENT]")
	}
}

// A user granted every right on another's INBOX still cannot DELETE it:
// an INBOX goes only with its user.
func TestDeleteOthersInboxRefused(t *testing.T) {
	dir := newLocalDirectory()
	dir.addUser(t, "alice", "secret")
	dir.addUser(t, "bob", "secret")
	dir.addMailbox(t, "user/alice/INBOX", "b1")
	dir.mustApply(t, fsm.SetACL{Name: "user/alice/INBOX", Identifier: "bob", Rights: "lrx"})
	addr, _ := startFrontend(t, testConfig(t, dir))
	bob := loggedIn(t, addr, "bob")
	alice := loggedIn(t, addr, "alice")

	bob.collect("a", `DELETE "Other Users/alice/INBOX"`, "NO [CANNOT]")
	alice.collect("b", `DELETE INBOX`, "NO [CANNOT]")
	if m, ok := dir.f.View().Mailbox("user/alice/INBOX"); !ok || m.State != fsm.Active {
		t.Fatalf("alice's INBOX after the DELETEs: %+v", m)
	}
}
