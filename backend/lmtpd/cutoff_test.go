package lmtpd

import (
	"strings"
	"testing"

	"github.com/rookery-mail/rookery/internal/lmtpraw"
)

// TestBDATCutOff: BDAT announces its chunk's size; a client that sends
// part of the LAST chunk and goes away has delivered nothing, though
// go-smtp's chunk reader ends quietly at the end of the connection.
func TestBDATCutOff(t *testing.T) {
	e := newEnv(t, 1<<20)
	inbox := e.addUser("alice", backendID)
	body := testMessage(1)

	replies, err := lmtpraw.CutOffBDAT(e.addr, "alice@example.org", body, 26)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(replies, "250 2.0.0 <alice@example.org>") {
		t.Fatalf("a cut-off BDAT was acknowledged:\n%s", replies)
	}
	if ms := e.messages(inbox); len(ms) != 0 {
		t.Fatalf("a cut-off BDAT stored %d messages (%d bytes)", len(ms), ms[0].Size)
	}
	// The whole chunk, then the same close, is a delivery.
	if _, err := lmtpraw.CutOffBDAT(e.addr, "alice@example.org", body, len(body)); err != nil {
		t.Fatal(err)
	}
	if ms := e.messages(inbox); len(ms) != 1 || ms[0].Size != int64(len(body)) {
		t.Fatalf("a whole BDAT: %+v", ms)
	}
}
