package imapfront

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/rookery-mail/rookery/fsm"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestAuthenticateLogin(t *testing.T) {
	dir := newLocalDirectory()
	dir.addUser(t, "alice", "secret")
	addr, _ := startFrontend(t, testConfig(t, dir))
	rc := dialRaw(t, addr)
	rc.send("a CAPABILITY\r\n")
	if l := rc.line(); !strings.Contains(l, "AUTH=PLAIN AUTH=LOGIN") || !strings.Contains(l, "SASL-IR") {
		t.Fatalf("capability %q", l)
	}
	rc.until("a OK")

	// Without an initial response: two challenges.
	rc.send("b authenticate login\r\n")
	if l := rc.line(); l != "+ "+b64("Username:") {
		t.Fatalf("first challenge %q", l)
	}
	rc.send(b64("alice") + "\r\n")
	if l := rc.line(); l != "+ "+b64("Password:") {
		t.Fatalf("second challenge %q", l)
	}
	rc.send(b64("wrong") + "\r\n")
	if l := rc.until("b "); !strings.HasPrefix(l, "b NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("wrong password: %q", l)
	}
	// Cancelled half way, then malformed: the session goes on.
	rc.send("c AUTHENTICATE LOGIN\r\n")
	rc.line()
	rc.send("*\r\n")
	if l := rc.until("c "); !strings.HasPrefix(l, "c BAD") {
		t.Fatalf("cancel: %q", l)
	}
	rc.send("d AUTHENTICATE LOGIN !!!\r\n")
	if l := rc.until("d "); !strings.HasPrefix(l, "d BAD") {
		t.Fatalf("malformed initial response: %q", l)
	}
	// With the user name as the initial response (SASL-IR).
	rc.send("e AUTHENTICATE LOGIN " + b64("Alice") + "\r\n")
	if l := rc.line(); l != "+ "+b64("Password:") {
		t.Fatalf("challenge after initial response %q", l)
	}
	rc.send(b64("secret") + "\r\n")
	if l := rc.until("e "); !strings.HasPrefix(l, "e OK") {
		t.Fatalf("authenticate login: %q", l)
	}
}

// An admin may act as another user; nobody else may, and a wrong password
// is an authentication failure whatever the authorization id.
func TestAuthenticatePlainAdmin(t *testing.T) {
	dir := newLocalDirectory()
	dir.addUser(t, "alice", "secret")
	dir.addUser(t, "bob", "secret")
	dir.addUser(t, "carol", "secret")
	dir.addUser(t, "helpdesk", "hd-pw")
	dir.mustApply(t, fsm.UserAdmin{Name: "helpdesk", Admin: true})
	cfg := testConfig(t, dir)
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	addr, _ := startFrontend(t, cfg)
	for _, c := range []struct {
		authz, user, pw, want string
	}{
		{"bob", "alice", "secret", "NO [AUTHORIZATIONFAILED]"},
		{"bob", "helpdesk", "wrong", "NO [AUTHENTICATIONFAILED]"},
		{"nobody", "helpdesk", "hd-pw", "NO [AUTHORIZATIONFAILED]"},
		{"bad+name", "helpdesk", "hd-pw", "NO [AUTHORIZATIONFAILED]"},
		{"Alice", "alice", "secret", "OK"},
		{"Bob", "helpdesk", "hd-pw", "OK"},
	} {
		rc := dialRaw(t, addr)
		rc.send("a AUTHENTICATE PLAIN " + b64(c.authz+"\x00"+c.user+"\x00"+c.pw) + "\r\n")
		if l := rc.until("a "); !strings.HasPrefix(l, "a "+c.want) {
			t.Fatalf("%s as %s: %q, want %s", c.user, c.authz, l, c.want)
		}
		rc.send("b LOGOUT\r\n")
		rc.until("b ")
	}
	// Every admin login names both users.
	waitFor(t, "the admin login logged", func() bool {
		return strings.Contains(logs.String(), `msg="admin logged in as another user"`) &&
			strings.Contains(logs.String(), "user=bob admin=helpdesk")
	})
}

// syncBuffer is a bytes.Buffer that sessions may log to concurrently.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
