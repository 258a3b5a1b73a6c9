package lmtpd

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

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

// TestCloseDuringBDATChunk: a server that stops while a BDAT chunk is
// arriving stores nothing of it, and Close returns only when the session
// has let go of the store (go-smtp's own Close would write the chunk's
// pipe under the session's goroutine).
func TestCloseDuringBDATChunk(t *testing.T) {
	e := newEnv(t, 1<<20)
	inbox := e.addUser("alice", backendID)
	body := testMessage(1)

	conn, err := net.DialTimeout("tcp", e.addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(conn)
	for _, cmd := range []string{"", "LHLO client.example.org", "MAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.org>"} {
		if cmd != "" {
			fmt.Fprintf(conn, "%s\r\n", cmd)
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil || line[0] != '2' {
				t.Fatalf("%q: %q %v", cmd, line, err)
			}
			if line[3] == ' ' {
				break
			}
		}
	}
	fmt.Fprintf(conn, "BDAT %d LAST\r\n%s", len(body), body[:len(body)/2])
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if rest, _ := io.ReadAll(r); strings.Contains(string(rest), "250") {
		t.Fatalf("half a BDAT chunk acknowledged: %q", rest)
	}
	if ms := e.messages(inbox); len(ms) != 0 {
		t.Fatalf("half a BDAT chunk stored %d messages", len(ms))
	}
}
