package imapd_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// wire is a raw IMAP client of a frontend: it sends commands with their
// own tags and returns every line up to the tagged reply, literals inlined.
type wire struct {
	t   testing.TB
	c   net.Conn
	br  *bufio.Reader
	tag int
}

// loginWire dials a frontend and logs in as user.
func loginWire(t testing.TB, addr, user string) *wire {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	w := &wire{t: t, c: c, br: bufio.NewReader(c)}
	if g := w.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	w.ok(fmt.Sprintf("LOGIN %s %s", user, testcluster.Password))
	return w
}

var literalAtEnd = regexp.MustCompile(`\{(\d+)\}$`)

// line reads one response line; a literal it announces is read into it.
func (w *wire) line() string {
	w.t.Helper()
	w.c.SetDeadline(time.Now().Add(30 * time.Second))
	var out strings.Builder
	for {
		l, err := w.br.ReadString('\n')
		if err != nil {
			w.t.Fatalf("read: %v (got %q)", err, out.String()+l)
		}
		l = strings.TrimRight(l, "\r\n")
		out.WriteString(l)
		m := literalAtEnd.FindStringSubmatch(l)
		if m == nil {
			return out.String()
		}
		n, _ := strconv.Atoi(m[1])
		buf := make([]byte, n)
		if _, err := io.ReadFull(w.br, buf); err != nil {
			w.t.Fatalf("read literal: %v", err)
		}
		out.Write(buf)
	}
}

// do sends one command and returns its untagged lines and the tagged one.
func (w *wire) do(cmd string) (untagged []string, tagged string) {
	w.t.Helper()
	w.tag++
	tag := fmt.Sprintf("w%d", w.tag)
	if _, err := io.WriteString(w.c, tag+" "+cmd+"\r\n"); err != nil {
		w.t.Fatalf("write: %v", err)
	}
	for {
		l := w.line()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, strings.TrimPrefix(l, tag+" ")
		}
		untagged = append(untagged, l)
	}
}

// ok is do for a command that must succeed.
func (w *wire) ok(cmd string) []string {
	w.t.Helper()
	untagged, tagged := w.do(cmd)
	if !strings.HasPrefix(tagged, "OK") {
		w.t.Fatalf("%s: %s (untagged %q)", cmd, tagged, untagged)
	}
	return untagged
}

// appendMessage APPENDs body to mailbox with a synchronizing literal.
func (w *wire) appendMessage(mailbox, flags, body string) {
	w.t.Helper()
	w.tag++
	tag := fmt.Sprintf("w%d", w.tag)
	fmt.Fprintf(w.c, "%s APPEND %s (%s) {%d}\r\n", tag, mailbox, flags, len(body))
	if l := w.line(); !strings.HasPrefix(l, "+") {
		w.t.Fatalf("APPEND: no continuation: %q", l)
	}
	io.WriteString(w.c, body+"\r\n")
	for {
		l := w.line()
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				w.t.Fatalf("APPEND to %s: %s", mailbox, l)
			}
			return
		}
	}
}

// find returns the first line with prefix, or "".
func find(lines []string, prefix string) string {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// want fails unless some line equals line.
func want(t testing.TB, what string, lines []string, line string) {
	t.Helper()
	for _, l := range lines {
		if l == line {
			return
		}
	}
	t.Fatalf("%s: no %q in %q", what, line, lines)
}
