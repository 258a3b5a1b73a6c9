package imapfront

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestLongCommandIsNotRelayed: the backends' IMAP library reads a command
// only up to 50 KiB outside literals and takes the rest of the line as a
// command of its own. A command longer than that is refused by the
// frontend with BAD, and nothing of it runs: not the SEARCH, and not the
// EXPUNGE hidden at its end.
func TestLongCommandIsNotRelayed(t *testing.T) {
	cl := startTestCluster(t, 1, 1)
	cl.addUser("alice", 0)
	c := login(t, cl.frontends[0], "alice", nil)
	appendMsg(t, c, "INBOX", "kept", nil, time.Now())

	rc := dialRaw(t, cl.frontends[0])
	rc.collect("a", "LOGIN alice secret", "OK")
	rc.collect("b", "SELECT INBOX", "OK")
	rc.collect("c", "STORE 1 +FLAGS (\\Deleted)", "OK")
	pad := strings.Repeat("x", 51_000)
	rc.collect("d", fmt.Sprintf(`SEARCH SUBJECT "%s" HEADER a1 EXPUNGE`, pad), "BAD")
	// Just under the bound, the same shape is an ordinary search.
	pad = strings.Repeat("x", maxRelayedText-200)
	rc.collect("e", fmt.Sprintf(`SEARCH SUBJECT "%s" HEADER a1 EXPUNGE`, pad), "OK")
	lines := rc.collect("f", "NOOP", "OK")
	for _, l := range lines {
		if strings.Contains(l, "EXPUNGE") || strings.HasPrefix(l, "a1 ") {
			t.Fatalf("the tail of a long command ran: %q", l)
		}
	}
	if n := rc.collect("g", "SEARCH ALL", "OK"); len(n) != 1 || n[0] != "* SEARCH 1" {
		t.Fatalf("SEARCH ALL after the long commands: %q", n)
	}
}

// TestWithinLimits: an interval is a 32-bit number other than 0 (RFC
// 5032's nz-number), the largest reaches back before every message, and
// a command holds at most maxWithinKeys OLDER and YOUNGER keys.
func TestWithinLimits(t *testing.T) {
	cl := startTestCluster(t, 1, 1)
	cl.addUser("alice", 0)
	c := login(t, cl.frontends[0], "alice", nil)
	appendMsg(t, c, "INBOX", "old", nil, time.Now().Add(-30*24*time.Hour))
	appendMsg(t, c, "INBOX", "new", nil, time.Now())

	rc := dialRaw(t, cl.frontends[0])
	rc.collect("a", "LOGIN alice secret", "OK")
	rc.collect("b", "SELECT INBOX", "OK")
	rc.collect("c", "SEARCH YOUNGER 4294967296", "BAD")
	if got := rc.collect("d", "SEARCH YOUNGER 4294967295", "OK"); len(got) != 1 || got[0] != "* SEARCH 1 2" {
		t.Fatalf("YOUNGER of the largest interval: %q", got)
	}
	if got := rc.collect("e", "SEARCH OLDER 4294967295", "OK"); len(got) != 1 || got[0] != "* SEARCH" {
		t.Fatalf("OLDER of the largest interval: %q", got)
	}
	if got := rc.collect("f", "SEARCH NOT YOUNGER 86400", "OK"); len(got) != 1 || got[0] != "* SEARCH 1" {
		t.Fatalf("NOT YOUNGER 86400: %q", got)
	}
	keys := strings.Repeat("OLDER 5 ", maxWithinKeys) + "OLDER 6"
	rc.collect("g", "SEARCH "+keys, "NO [LIMIT]")
	rc.collect("h", "SEARCH "+strings.TrimSpace(strings.Repeat("OLDER 5 ", maxWithinKeys)), "OK")
}
