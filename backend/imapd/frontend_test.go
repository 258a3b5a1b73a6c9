package imapd_test

import (
	"strings"
	"testing"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// TestThroughFrontend runs raw IMAP4rev1 sessions through a real frontend
// against the backend IMAP server, for the behaviours RFC 3501 asks of a
// server that go-imap v2 leaves to it. One cluster serves every subtest;
// each works in a mailbox of its own.
func TestThroughFrontend(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	addr := c.Frontends[0].IMAPAddr
	t.Run("Recent", func(t *testing.T) { testRecent(t, c, addr) })
}

// testRecent: a message is \Recent in exactly one session, the first to
// SELECT the mailbox after it arrived; EXAMINE and STATUS only look
// (RFC 3501 sections 2.3.2, 6.3.1, 6.3.2, 6.3.10, 6.4.4, 7.3.2).
func testRecent(t *testing.T, c *testcluster.Cluster, addr string) {
	c.Create(0, "user/alice/Recent")
	a, b := loginWire(t, addr, "alice"), loginWire(t, addr, "alice")
	a.appendMessage("Recent", "", message("one", "1"))
	a.appendMessage("Recent", `\Seen`, message("two", "2"))

	want(t, "STATUS before any SELECT", b.ok("STATUS Recent (MESSAGES RECENT)"), `* STATUS "Recent" (MESSAGES 2 RECENT 2)`)
	lines := b.ok("EXAMINE Recent")
	want(t, "EXAMINE", lines, "* 2 RECENT")
	want(t, "FETCH in EXAMINE", b.ok("FETCH 1 FLAGS"), `* 1 FETCH (UID 2 FLAGS (\Recent))`)
	b.ok("UNSELECT")

	want(t, "first SELECT", a.ok("SELECT Recent"), "* 2 RECENT")
	want(t, "SEARCH RECENT", a.ok("SEARCH RECENT"), "* SEARCH 1 2")
	want(t, "SEARCH NEW", a.ok("SEARCH NEW"), "* SEARCH 1")
	want(t, "SEARCH OLD", a.ok("SEARCH OLD"), "* SEARCH")
	want(t, "FETCH FLAGS", a.ok("FETCH 2 FLAGS"), `* 2 FETCH (UID 4 FLAGS (\Seen \Recent))`)

	want(t, "second SELECT", b.ok("SELECT Recent"), "* 0 RECENT")
	want(t, "SEARCH OLD in the second session", b.ok("SEARCH OLD"), "* SEARCH 1 2")
	want(t, "SEARCH RECENT in the second session", b.ok("SEARCH RECENT"), "* SEARCH")
	want(t, "FETCH FLAGS in the second session", b.ok("FETCH 1 FLAGS"), "* 1 FETCH (UID 2 FLAGS ())")
	b.ok("UNSELECT")
	want(t, "STATUS after the SELECTs", b.ok("STATUS Recent (RECENT)"), `* STATUS "Recent" (RECENT 0)`)

	// A message that arrives while a session has the mailbox selected is
	// recent there: RECENT follows its EXISTS.
	b.appendMessage("Recent", "", message("three", "3"))
	var seen []string
	testcluster.WaitFor(t, "EXISTS 3 in the selected session", func() bool {
		lines := a.ok("NOOP")
		seen = append(seen, lines...)
		return find(lines, "* 3 EXISTS") != ""
	})
	want(t, "RECENT after EXISTS", seen, "* 3 RECENT")
	if i, j := index(seen, "* 3 EXISTS"), index(seen, "* 3 RECENT"); i > j {
		t.Fatalf("RECENT before EXISTS: %q", seen)
	}
	want(t, "SEARCH RECENT after delivery", a.ok("SEARCH RECENT"), "* SEARCH 1 2 3")
	want(t, "STATUS after delivery to a selected mailbox", b.ok("STATUS Recent (RECENT)"), `* STATUS "Recent" (RECENT 0)`)
}

func index(lines []string, line string) int {
	for i, l := range lines {
		if strings.TrimSpace(l) == line {
			return i
		}
	}
	return -1
}
