package imapfront

import (
	"strings"
	"testing"
)

// A backend that dies: the client with a mailbox selected there gets BYE,
// another gets NO [UNAVAILABLE] for that backend's mailboxes, and both
// sessions' other work goes on.
func TestBackendDies(t *testing.T) {
	cl := startTestCluster(t, 2, 1)
	cl.addUser("alice", 0)
	cl.createOn(1, "user/alice/Archive", "")
	selected := loggedIn(t, cl.frontends[0], "alice")
	selected.collect("a", "SELECT Archive", "OK")
	other := loggedIn(t, cl.frontends[0], "alice")
	other.collect("b", "STATUS Archive (MESSAGES)", "OK")

	if err := cl.backends[1].Close(); err != nil {
		t.Fatal(err)
	}
	selected.send("c NOOP\r\n")
	if l := selected.until("* BYE"); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("selected session: %q", l)
	}
	other.collect("d", "STATUS Archive (MESSAGES)", "NO [UNAVAILABLE]")
	other.collect("e", "SELECT INBOX", "OK")
	other.collect("f", `LIST "" *`, "OK")
	fresh := loggedIn(t, cl.frontends[0], "alice")
	fresh.collect("g", "SELECT Archive", "NO [UNAVAILABLE]")
	fresh.collect("h", "SELECT INBOX", "OK")
	t.Log("body done")
}
