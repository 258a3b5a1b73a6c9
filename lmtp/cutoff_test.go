package lmtp_test

import (
	"strings"
	"testing"

	"github.com/rookery-mail/rookery/internal/lmtpraw"
	"github.com/rookery-mail/rookery/internal/testcluster"
)

// TestBDATCutOffThroughProxy: the proxy takes a BDAT chunk cut off by the
// client's going away for what it is, and ends no transaction towards the
// backend with it.
func TestBDATCutOffThroughProxy(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	body := message("<cut-off@example.org>")
	replies, err := lmtpraw.CutOffBDAT(c.Frontends[0].LMTPAddr, "alice@example.org", body, 26)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(replies, "250 2.0.0 <alice@example.org>") {
		t.Fatalf("a cut-off BDAT was acknowledged:\n%s", replies)
	}
	if n := inboxCount(t, c, "alice"); n != 0 {
		t.Fatalf("a cut-off BDAT was delivered: %d messages", n)
	}
	if _, err := lmtpraw.CutOffBDAT(c.Frontends[0].LMTPAddr, "alice@example.org", body, len(body)); err != nil {
		t.Fatal(err)
	}
	if n := inboxCount(t, c, "alice"); n != 1 {
		t.Fatalf("a whole BDAT: %d messages", n)
	}
}
