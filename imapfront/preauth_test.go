package imapfront

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func TestPreAuthImapclient(t *testing.T) {
	dir := newLocalDirectory()
	dir.addUser(t, "alice", "secret")
	addr, _ := startFrontend(t, testConfig(t, dir))

	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	caps, err := c.Capability().Wait()
	if err != nil || !caps.Has(imap.CapIMAP4rev1) || !caps.Has(imap.AuthCap("PLAIN")) {
		t.Fatalf("capabilities %v, %v", caps, err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Login("alice", "wrong").Wait(); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	if err := c.Login("nobody", "secret").Wait(); err == nil {
		t.Fatal("login of an unknown user succeeded")
	}
	if err := c.Login("Alice", "secret").Wait(); err != nil {
		t.Fatalf("login: %v", err)
	}
	caps, err = c.Capability().Wait()
	if err != nil || !caps.Has(imap.CapListStatus) || !caps.Has(imap.CapIdle) {
		t.Fatalf("capabilities after login %v, %v", caps, err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestAuthenticatePlain(t *testing.T) {
	dir := newLocalDirectory()
	dir.addUser(t, "alice", "secret")
	dir.addUser(t, "bob", "secret")
	addr, _ := startFrontend(t, testConfig(t, dir))
	rc := dialRaw(t, addr)
	// A client may not act for another user.
	rc.send("a AUTHENTICATE PLAIN Ym9iAGFsaWNlAHNlY3JldA==\r\n") // bob\0alice\0secret
	if l := rc.until("a "); !strings.HasPrefix(l, "a NO [AUTHORIZATIONFAILED]") {
		t.Fatalf("authz as another user: %q", l)
	}
	rc.send("b AUTHENTICATE PLAIN\r\n")
	if l := rc.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("no continuation: %q", l)
	}
	rc.send("AGFsaWNlAHNlY3JldA==\r\n") // \0alice\0secret
	if l := rc.until("b "); !strings.HasPrefix(l, "b OK") {
		t.Fatalf("authenticate: %q", l)
	}
	rc.send("c ID (\"name\" \"test\")\r\n")
	if l := rc.until("c "); !strings.HasPrefix(l, "c OK") {
		t.Fatalf("ID: %q", l)
	}
}

func TestPlaintextLoginRefused(t *testing.T) {
	dir := newLocalDirectory()
	dir.addUser(t, "alice", "secret")
	cfg := testConfig(t, dir)
	cfg.AllowPlaintextLogin = false
	addr, _ := startFrontend(t, cfg)
	rc := dialRaw(t, addr)
	rc.send("a CAPABILITY\r\n")
	if l := rc.line(); !strings.Contains(l, "LOGINDISABLED") {
		t.Fatalf("capability %q lacks LOGINDISABLED", l)
	}
	rc.until("a OK")
	rc.send("b LOGIN alice secret\r\n")
	if l := rc.line(); !strings.HasPrefix(l, "b NO [PRIVACYREQUIRED]") {
		t.Fatalf("plaintext login: %q", l)
	}
}

func TestMalformedCommandsKeepConnection(t *testing.T) {
	dir := newLocalDirectory()
	dir.addUser(t, "alice", "secret")
	addr, _ := startFrontend(t, testConfig(t, dir))
	rc := dialRaw(t, addr)
	for i, bad := range []string{
		"\r\n",
		"x\r\n",
		"a+ NOOP\r\n",
		"a LOGIN \"unterminated\r\n",
		"a LOGIN {abc}\r\n",
		"a SELECT INBOX\r\n",
		"a " + strings.Repeat("X", 12000) + "\r\n",
		"a LOGIN a\x00b c\r\n",
		"a LOGIN {3+}\r\nabc\r\n",
		"a UNKNOWN\r\n",
	} {
		rc.send(bad)
		l := rc.line()
		if !strings.Contains(l, " BAD ") && !strings.Contains(l, " NO ") {
			t.Fatalf("input %d: got %q, want BAD or NO", i, l)
		}
		rc.send(fmt.Sprintf("n%d NOOP\r\n", i))
		if l := rc.until(fmt.Sprintf("n%d ", i)); !strings.HasPrefix(l, fmt.Sprintf("n%d OK", i)) {
			t.Fatalf("after input %d: %q", i, l)
		}
	}
	rc.send("z LOGIN alice secret\r\n")
	if l := rc.until("z "); !strings.HasPrefix(l, "z OK") {
		t.Fatalf("login after garbage: %q", l)
	}
}

// A 100 MB message to a server with a 50 MB limit is refused before any of
// it is read: a synchronizing literal never gets its continuation, and a
// non-synchronizing one over the hard bound closes the connection.
func TestHugeLiteralRefusedUnread(t *testing.T) {
	dir := newLocalDirectory()
	dir.addUser(t, "alice", "secret")
	cfg := testConfig(t, dir)
	cfg.MaxLiteralBytes, cfg.HardLiteralBytes = 50<<20, 60<<20
	addr, ln := startFrontend(t, cfg)
	rc := dialRaw(t, addr)
	rc.send("a LOGIN alice secret\r\n")
	rc.until("a OK")
	before := ln.read.Load()
	rc.send("b APPEND INBOX {104857600}\r\n")
	if l := rc.line(); !strings.HasPrefix(l, "b NO [TOOBIG]") {
		t.Fatalf("got %q, want NO [TOOBIG]", l)
	}
	if n := ln.read.Load() - before; n > 1024 {
		t.Fatalf("server read %d bytes of a refused literal", n)
	}
	rc.send("c NOOP\r\n")
	rc.until("c OK")

	before = ln.read.Load()
	rc.send("d APPEND INBOX {104857600+}\r\n")
	if l := rc.line(); !strings.HasPrefix(l, "d NO [TOOBIG]") {
		t.Fatalf("got %q, want NO [TOOBIG]", l)
	}
	if l := rc.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("got %q, want BYE", l)
	}
	if n := ln.read.Load() - before; n > 64*1024 {
		t.Fatalf("server read %d bytes of a refused literal", n)
	}
}

func TestPreAuthPythonImaplib(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	dir := newLocalDirectory()
	dir.addUser(t, "alice", "secret")
	addr, _ := startFrontend(t, testConfig(t, dir))
	host, port, _ := strings.Cut(addr, ":")
	script := fmt.Sprintf(`
import imaplib
c = imaplib.IMAP4(%q, %s)
assert 'IMAP4REV1' in c.capabilities, c.capabilities
c.noop()
try:
    c.login('alice', 'wrong')
    raise SystemExit('wrong password accepted')
except imaplib.IMAP4.error:
    pass
c.login('alice', 'secret')
typ, data = c.namespace()
assert typ == 'OK', data
c.logout()
print('ok')
`, host, port)
	out, err := exec.Command(py, "-c", script).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
}
