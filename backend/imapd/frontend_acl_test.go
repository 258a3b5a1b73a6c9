package imapd_test

import (
	"strings"
	"testing"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// testReadOnlyRights: a user with only "lr" on a mailbox is told
// READ-ONLY by SELECT and offered no permanent flag; one who may store
// \Seen only is offered \Seen alone (RFC 4314 section 4).
func testReadOnlyRights(t *testing.T, c *testcluster.Cluster, addr string) {
	c.Create(0, "user/alice/Team")
	alice := loginWire(t, addr, "alice")
	alice.appendMessage("Team", "", message("team news", "x"))
	alice.ok("SETACL Team bob lr")

	bob := loginWire(t, addr, "bob")
	untagged, tagged := bob.do(`SELECT "Other Users/alice/Team"`)
	if !strings.HasPrefix(tagged, "OK [READ-ONLY]") {
		t.Fatalf("SELECT with lr: %s", tagged)
	}
	if pf := find(untagged, "* OK [PERMANENTFLAGS"); pf != "" && !strings.HasPrefix(pf, "* OK [PERMANENTFLAGS ()]") {
		t.Fatalf("SELECT with lr offers %q", pf)
	}
	if _, tagged := bob.do(`STORE 1 +FLAGS (\Seen)`); !strings.HasPrefix(tagged, "NO") {
		t.Fatalf("STORE with lr: %s", tagged)
	}

	alice.ok("SETACL Team bob +s")
	untagged, tagged = bob.do(`SELECT "Other Users/alice/Team"`)
	if !strings.HasPrefix(tagged, "OK [READ-WRITE]") {
		t.Fatalf("SELECT with lrs: %s", tagged)
	}
	want(t, "PERMANENTFLAGS with lrs", untagged, `* OK [PERMANENTFLAGS (\Seen)] Permanent flags`)
}
