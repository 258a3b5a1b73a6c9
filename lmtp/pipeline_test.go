package lmtp_test

import (
	"fmt"
	"testing"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// TestPooledConnectionClosedByBackend: the backend restarts, so every
// connection the proxy keeps idle to it is dead; the next delivery still
// gets 250, on a fresh connection, and is stored once.
func TestPooledConnectionClosedByBackend(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("liam", 0)
	addr := c.Frontends[0].LMTPAddr
	if codes := send(t, addr, []string{"liam@example.org"}, message("p1")); codes["liam@example.org"] != 250 {
		t.Fatalf("first delivery: %v", codes)
	}
	c.Backends[0].Stop()
	c.Backends[0].Start()
	if codes := send(t, addr, []string{"liam@example.org"}, message("p2")); codes["liam@example.org"] != 250 {
		t.Fatalf("delivery after the backend restarted: %v, want 250", codes)
	}
	// Again with a body of several chunks, whose first chunk waits for the
	// replies to MAIL and RCPT: the dead connection is found there.
	c.Backends[0].Stop()
	c.Backends[0].Start()
	if codes := send(t, addr, []string{"liam@example.org"}, largeBody("p3")); codes["liam@example.org"] != 250 {
		t.Fatalf("large delivery after the backend restarted: %v, want 250", codes)
	}
	if n := inboxCount(t, c, "liam"); n != 3 {
		t.Fatalf("liam has %d messages, want 3", n)
	}
}

// TestManyRecipientsPipelined: more recipients on one backend than the
// proxy leaves replies unread for, with unknown users among them; each gets
// its own reply and each known one its copy.
func TestManyRecipientsPipelined(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	var rcpts []string
	for i := range 130 {
		u := fmt.Sprintf("m%03d", i)
		c.AddUser(u, 0)
		rcpts = append(rcpts, u+"@example.org")
		if i%40 == 0 {
			rcpts = append(rcpts, fmt.Sprintf("nobody%d@example.org", i))
		}
	}
	codes := send(t, c.Frontends[0].LMTPAddr, rcpts, message("many"))
	for _, r := range rcpts {
		want := 250
		if r[0] == 'n' {
			want = 550
		}
		if codes[r] != want {
			t.Errorf("%s: got %d, want %d", r, codes[r], want)
		}
	}
	for i := range 130 {
		if n := inboxCount(t, c, fmt.Sprintf("m%03d", i)); n != 1 {
			t.Errorf("m%03d has %d messages, want 1", i, n)
		}
	}
}
