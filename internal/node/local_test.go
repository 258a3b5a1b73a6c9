package node_test

import (
	"net"
	"testing"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// A frontend reaches the backend of its own node without the network, in
// IMAP and in LMTP, and another node's backend over it, with node TLS on
// the links between nodes.
func TestFrontendReachesItsOwnBackendLocally(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Combined: true, TLS: true})
	c.AddUser("alice", 0) // INBOX on b1, whose node runs Frontends[0]
	c.AddUser("bob", 1)   // INBOX on b2, reached from b1's node over TLS
	f := c.Frontends[0]
	for _, user := range []string{"alice", "bob"} {
		lc, err := net.Dial("tcp", f.LMTPAddr)
		if err != nil {
			t.Fatal(err)
		}
		l := newLineConn(t, lc)
		l.expect("", "220")
		l.expect("LHLO test.example", "250 ")
		l.expect("MAIL FROM:<carol@example.org>", "250")
		l.expect("RCPT TO:<"+user+"@example.org>", "250")
		l.expect("DATA", "354")
		l.expect("Subject: local\r\n\r\nhello\r\n.", "250")
		lc.Close()

		ic, err := net.Dial("tcp", f.IMAPAddr)
		if err != nil {
			t.Fatal(err)
		}
		s := newLineConn(t, ic)
		s.expect("", "* OK")
		s.expect("a LOGIN "+user+" "+testcluster.Password, "a OK")
		s.expect("b SELECT INBOX", "* 1 EXISTS")
		s.expect("c FETCH 1 BODY[TEXT]", "hello")
		s.expect("d LOGOUT", "d OK")
		ic.Close()
	}
	if n := c.Backends[0].Role.LocalDials(); n < 2 {
		t.Fatalf("b1 made %d local connections for its own frontend, want an IMAP and an LMTP one at least", n)
	}
	if n := c.Backends[1].Role.LocalDials(); n != 0 {
		t.Fatalf("b2 made %d local connections, though no client used its node's frontend", n)
	}
	if got := c.MessageCount("user/bob/INBOX"); got != 1 {
		t.Fatalf("bob's INBOX on the other node holds %d messages", got)
	}
}
