package imapd_test

import (
	"crypto/sha256"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// TestRFCThroughFrontend: more of what RFC 3501, 9051 and their
// extensions ask of the server, in raw lines through a real frontend. One
// cluster serves every subtest; each works in a mailbox of its own.
func TestRFCThroughFrontend(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	addr := c.Frontends[0].IMAPAddr
	t.Run("PartialBinary", func(t *testing.T) { testPartialBinary(t, c, addr) })
	t.Run("MoveSameMailbox", func(t *testing.T) { testMoveSameMailbox(t, c, addr, 0) })
	t.Run("FetchExpunged", func(t *testing.T) { testFetchExpunged(t, c, addr) })
}

// TestMoveSameMailboxOtherBackend: MOVE to the selected mailbox when it is
// on another backend than the user's INBOX, the session's first.
func TestMoveSameMailboxOtherBackend(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1})
	c.AddUser("alice", 0)
	testMoveSameMailbox(t, c, c.Frontends[0].IMAPAddr, 1)
}

// binaryMessage has a base64 text part ("hello world" decoded).
var binaryMessage = strings.Join([]string{
	"From: alice@example.org",
	"Subject: binary",
	"MIME-Version: 1.0",
	`Content-Type: multipart/mixed; boundary="XX"`,
	"",
	"--XX",
	"Content-Type: text/plain",
	"Content-Transfer-Encoding: base64",
	"",
	"aGVsbG8gd29ybGQ=",
	"--XX--",
	"",
}, "\r\n")

// testPartialBinary: a partial BINARY item is answered with its origin,
// `BINARY[1]<2> ~{5}`, like BODY[]<origin> (RFC 3516 section 4.2, RFC
// 3501 section 7.4.2); BINARY.PEEK leaves \Seen alone and is answered as
// BINARY; BINARY.SIZE is the decoded size.
func testPartialBinary(t *testing.T, c *testcluster.Cluster, addr string) {
	c.Create(0, "user/alice/Binary")
	w := loginWire(t, addr, "alice")
	w.appendMessage("Binary", "", binaryMessage)
	w.ok("SELECT Binary")
	for _, tc := range []struct{ cmd, want string }{
		{"FETCH 1 BINARY.PEEK[1]<0.5>", "BINARY[1]<0> ~{5}hello)"},
		{"FETCH 1 BINARY.PEEK[1]<2.5>", "BINARY[1]<2> ~{5}llo w)"},
		{"FETCH 1 BINARY.PEEK[1]<100.5>", "BINARY[1]<100> ~{0})"},
		{"FETCH 1 BINARY.PEEK[]<0.5>", "BINARY[]<0> ~{5}From:)"},
		{"FETCH 1 BINARY.PEEK[1]", "BINARY[1] ~{11}hello world)"},
		{"FETCH 1 (BINARY.PEEK[1]<0.5> BODY.PEEK[1] BINARY.PEEK[1]<6.5>)", "BODY[1] {16}aGVsbG8gd29ybGQ= BINARY[1]<0> ~{5}hello BINARY[1]<6> ~{5}world)"},
		{"FETCH 1 BINARY.SIZE[1]", "BINARY.SIZE[1] 11)"},
		{"FETCH 1 FLAGS", `FLAGS (\Recent))`},
		{"FETCH 1 BINARY[1]<0.5>", `FLAGS (\Seen \Recent) BINARY[1]<0> ~{5}hello)`},
	} {
		l := find(w.ok(tc.cmd), "* 1 FETCH")
		if !strings.HasSuffix(l, tc.want) {
			t.Errorf("%s: %q, want it to end in %q", tc.cmd, l, tc.want)
		}
	}
}

// testMoveSameMailbox: MOVE and UID MOVE to the mailbox the messages are
// in move them, as Dovecot does: new UIDs with COPYUID, the old ones
// expunged, flags kept, the message count unchanged.
func testMoveSameMailbox(t *testing.T, c *testcluster.Cluster, addr string, backend int) {
	c.Create(backend, "user/alice/Same")
	w := loginWire(t, addr, "alice")
	w.ok("SELECT INBOX")
	for i, flags := range []string{"", `\Flagged`, ""} {
		w.appendMessage("Same", flags, message(fmt.Sprintf("same %d", i), "x"))
	}
	w.ok("SELECT Same")
	uids := uidsOf(t, w.ok("UID FETCH 1:* (UID)"))
	lines, tagged := w.do("MOVE 2 Same")
	copyuid := regexp.MustCompile(`COPYUID \d+ (\d+) (\d+)\]`).FindStringSubmatch(strings.Join(append(lines, tagged), " "))
	if !strings.HasPrefix(tagged, "OK") || copyuid == nil || copyuid[1] != uids[1] {
		t.Fatalf("MOVE 2 Same: %q %s, want OK with COPYUID of UID %s", lines, tagged, uids[1])
	}
	want(t, "MOVE 2 Same", lines, "* 2 EXPUNGE")
	want(t, "MOVE 2 Same", lines, "* 3 EXISTS")
	got := uidsOf(t, w.ok("UID FETCH 1:* (UID)"))
	if wantUIDs := []string{uids[0], uids[2], copyuid[2]}; !slices.Equal(got, wantUIDs) {
		t.Fatalf("UIDs after MOVE: %v, want %v", got, wantUIDs)
	}
	if l := find(w.ok("FETCH 3 FLAGS"), "* 3 FETCH"); !strings.Contains(l, `\Flagged`) {
		t.Fatalf("moved message lost its flags: %s", l)
	}
	lines = w.ok("UID MOVE 1:* Same")
	expunges := 0
	for _, l := range lines {
		if strings.HasSuffix(l, " EXPUNGE") {
			expunges++
		}
	}
	if expunges != 3 {
		t.Fatalf("UID MOVE 1:* Same: %q, want 3 EXPUNGEs and 3 EXISTS", lines)
	}
	want(t, "UID MOVE 1:* Same", lines, "* 3 EXISTS")
	after := uidsOf(t, w.ok("UID FETCH 1:* (UID)"))
	if len(after) != 3 || after[0] == got[0] {
		t.Fatalf("UIDs after UID MOVE: %v (before %v)", after, got)
	}
	if n := c.MessageCount("user/alice/Same"); n != 3 {
		t.Fatalf("%d messages after the moves, want 3", n)
	}
}

// uidsOf is the UIDs of FETCH responses, in order.
func uidsOf(t *testing.T, lines []string) []string {
	t.Helper()
	var out []string
	for _, l := range lines {
		if m := regexp.MustCompile(`^\* \d+ FETCH \(.*UID (\d+)`).FindStringSubmatch(l); m != nil {
			out = append(out, m[1])
		}
	}
	return out
}

// testFetchExpunged: a message another session expunged is still served,
// whole, to a session whose client has not been told (RFC 3501 section
// 7.4.1, RFC 9051 section 7.5.1), until that session's client hears the
// EXPUNGE; then its file goes.
func testFetchExpunged(t *testing.T, c *testcluster.Cluster, addr string) {
	c.Create(0, "user/alice/Gone")
	a := loginWire(t, addr, "alice")
	bodies := []string{message("gone 0", "zero"), message("gone 1", "one"), message("gone 2", "two")}
	for _, b := range bodies {
		a.appendMessage("Gone", "", b)
	}
	a.ok("SELECT Gone")
	uids := uidsOf(t, a.ok("FETCH 1:3 (UID)"))
	a.ok(`STORE 2 +FLAGS (\Flagged)`)

	b := loginWire(t, addr, "alice")
	b.ok("SELECT Gone")
	b.ok(`STORE 2 +FLAGS.SILENT (\Deleted)`)
	want(t, "EXPUNGE", b.ok("EXPUNGE"), "* 2 EXPUNGE")
	guid := fmt.Sprintf("%x", sha256.Sum256([]byte(bodies[1])))

	l := find(a.ok("FETCH 2 (FLAGS)"), "* 2 FETCH")
	if !strings.Contains(l, `\Flagged`) {
		t.Fatalf("FETCH 2 FLAGS of the expunged message: %q", l)
	}
	l = find(a.ok("FETCH 2 (BODY.PEEK[TEXT] RFC822.SIZE ENVELOPE)"), "* 2 FETCH")
	for _, part := range []string{"BODY[TEXT] {5}one", fmt.Sprintf("RFC822.SIZE %d", len(bodies[1])), `"gone 1"`} {
		if !strings.Contains(l, part) {
			t.Fatalf("FETCH 2 of the expunged message: %q, want %s", l, part)
		}
	}
	lines := a.ok("UID FETCH 1:* (UID BODY.PEEK[TEXT])")
	if got := uidsOf(t, lines); !slices.Equal(got, uids) {
		t.Fatalf("UID FETCH 1:*: UIDs %v, want %v (%q)", got, uids, lines)
	}
	want(t, "UID FETCH 1:*", lines, fmt.Sprintf("* 2 FETCH (UID %s BODY[TEXT] {5}one\r\n)", uids[1]))
	// UID FETCH may send EXPUNGE (RFC 3501 section 7.4.1), after its data.
	want(t, "UID FETCH 1:*", lines, "* 2 EXPUNGE")
	l = find(a.ok("FETCH 2 (BODY.PEEK[TEXT])"), "* 2 FETCH")
	if !strings.Contains(l, "two") {
		t.Fatalf("FETCH 2 after the EXPUNGE: %q, want the third message", l)
	}
	testcluster.WaitFor(t, "the expunged body's file to go", func() bool {
		f, err := c.Backends[0].Store.Body(guid)
		if err == nil {
			f.Close()
		}
		return err != nil
	})
}
