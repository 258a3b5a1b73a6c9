package imapd_test

import (
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
