package imapd_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/rookery-mail/rookery/backend/backendtest"
)

// TestAppendCutOff: a client that announces a literal, sends part of it
// and goes away stores nothing. The client half-closes, so the server's
// answer shows that it has finished with the APPEND before the mailbox is
// looked at.
func TestAppendCutOff(t *testing.T) {
	env := backendtest.Start(t)
	env.AddUser("alice", "alice-pw")

	conn, err := net.DialTimeout("tcp", env.Backend.IMAPAddr(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(conn)
	line := func() string {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v (so far %q)", err, l)
		}
		return l
	}
	line() // greeting
	fmt.Fprintf(conn, "a1 LOGIN alice alice-pw\r\n")
	for l := line(); !strings.HasPrefix(l, "a1 "); l = line() {
	}
	body := message("cut off", strings.Repeat("x", 100))
	fmt.Fprintf(conn, "a2 APPEND INBOX {%d}\r\n", len(body))
	if l := line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("no continuation: %q", l)
	}
	io.WriteString(conn, body[:18])
	conn.(*net.TCPConn).CloseWrite()
	rest, _ := io.ReadAll(r)
	if strings.Contains(string(rest), "a2 OK") {
		t.Fatalf("a cut-off APPEND was answered OK: %q", rest)
	}

	c := asUser(t, env, "alice", nil)
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 0 {
		t.Fatalf("INBOX after a cut-off APPEND: %v, %d messages", err, *st.NumMessages)
	}
	// The whole message, sent the same way, is stored.
	appendMsg(t, c, "INBOX", body)
	st, err = c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 1 {
		t.Fatalf("INBOX after a whole APPEND: %v, %+v", err, st)
	}
	if err := env.Store.Verify(); err != nil {
		t.Fatal(err)
	}
}
