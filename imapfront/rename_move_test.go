package imapfront

import (
	"strings"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/clusterapi"
	"github.com/rookery-mail/rookery/replication"
)

// RENAME a b SERVER moves the mailbox to backend SERVER (a == b: a move
// alone), with its messages; a frontend without a mover refuses it.
func TestRenameToServer(t *testing.T) {
	cl := startTestCluster(t, 2, 1) // its backends' routes mounted
	node := cl.fnodes[0]
	cfg := testConfig(t, node)
	cfg.ClusterSecret = clusterSecret
	cfg.Mover = replication.RemoteMover{Directory: node, API: clusterapi.NewClient(clusterSecret, nil, false, nil)}
	addr, _ := startFrontend(t, cfg)
	cl.addUser("alice", 0)
	cl.createOn(0, "user/alice/Archive", "")

	c := login(t, addr, "alice", nil)
	for _, s := range []string{"one", "two", "three"} {
		appendMsg(t, c, "Archive", s, nil, time.Now())
	}
	before := fetchAll(t, c, "Archive")

	raw := dialRaw(t, addr)
	raw.send("a LOGIN alice secret\r\n")
	raw.until("a OK")
	raw.send("b RENAME Archive Archive b2\r\n")
	if l := raw.until("b "); !strings.HasPrefix(l, "b OK") {
		t.Fatalf("move: %q", l)
	}
	primary := func(name string) string {
		mb, ok := readAt(t, node, directory.Local).Mailbox(name)
		if !ok {
			t.Fatalf("no mailbox %s", name)
		}
		return mb.Primary.Backend
	}
	if p := primary("user/alice/Archive"); p != "b2" {
		t.Fatalf("Archive on %s after the move", p)
	}
	after := fetchAll(t, c, "Archive")
	if len(after) != len(before) {
		t.Fatalf("%d messages after the move, %d before", len(after), len(before))
	}

	// Rename and move in one command; the server may carry a partition.
	raw.send("c RENAME Archive Old b1!default\r\n")
	if l := raw.until("c "); !strings.HasPrefix(l, "c OK") {
		t.Fatalf("rename and move: %q", l)
	}
	if p := primary("user/alice/Old"); p != "b1" {
		t.Fatalf("Old on %s", p)
	}
	if got := fetchAll(t, c, "Old"); len(got) != len(before) {
		t.Fatalf("%d messages in Old", len(got))
	}

	for cmd, want := range map[string]string{
		"d RENAME Old Old nope\r\n":       "d NO",
		"e RENAME Old Old b!d x\r\n":      "e BAD",
		"f RENAME Nothing Nothing b2\r\n": "f NO [NONEXISTENT]",
		"g RENAME Old Old b1\r\n":         "g OK", // there already
	} {
		raw.send(cmd)
		if l := raw.until(cmd[:2]); !strings.HasPrefix(l, want) {
			t.Errorf("%q: %q, want %s", strings.TrimSpace(cmd), l, want)
		}
	}
	if mb, _ := readAt(t, node, directory.Local).Mailbox("user/alice/Old"); mb.State != fsm.Active {
		t.Fatalf("Old is %s", mb.State)
	}

	plain := dialRaw(t, cl.frontends[0])
	plain.send("a LOGIN alice secret\r\n")
	plain.until("a OK")
	plain.send("b RENAME Old Old b2\r\n")
	if l := plain.until("b "); !strings.HasPrefix(l, "b NO [CANNOT]") {
		t.Fatalf("frontend without a mover: %q", l)
	}
}

// TestRenameInboxRefused: RENAME INBOX x, which RFC 3501 section 6.3.5
// makes a move of INBOX's messages, is refused with a clear NO [CANNOT],
// as Dovecot answers, and changes nothing.
func TestRenameInboxRefused(t *testing.T) {
	cl := startTestCluster(t, 1, 1)
	cl.addUser("alice", 0)
	rc := loggedIn(t, cl.frontends[0], "alice")
	rc.send("a APPEND INBOX {5+}\r\nhello\r\n")
	rc.until("a OK")
	rc.collect("r", "RENAME INBOX Old", "NO [CANNOT] RENAME of INBOX")
	rc.collect("r2", "RENAME inbox Old", "NO [CANNOT] RENAME of INBOX")
	if n := rc.collect("s", "STATUS INBOX (MESSAGES)", "OK"); len(n) != 1 || !strings.Contains(n[0], "MESSAGES 1") {
		t.Fatalf("STATUS INBOX after the refused RENAME: %q", n)
	}
	rc.collect("o", "STATUS Old (MESSAGES)", "NO [NONEXISTENT]")
}
