package imapfront_test

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/testcluster"
)

// saslCluster has alice and bob, each with an INBOX on its own backend and
// one message in it, and helpdesk, an admin.
func saslCluster(t *testing.T) *testcluster.Cluster {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1})
	c.AddUser("alice", 0)
	c.AddUser("bob", 1)
	c.AddUser("helpdesk", 0)
	res, err := c.Voters[0].Apply(testcluster.Ctx(t), fsm.UserAdmin{Name: "helpdesk", Admin: true})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Frontends[0].Node.Read(testcluster.Ctx(t), directory.Synced); err != nil {
		t.Fatal(err)
	}
	deliver(t, c.Frontends[0].LMTPAddr, "alice@example.org")
	deliver(t, c.Frontends[0].LMTPAddr, "bob@example.org")
	return c
}

// Python's imaplib answers the server's challenges (no initial response):
// an admin acting for bob gets bob's session on bob's backend, alice may
// not act for bob, and AUTHENTICATE LOGIN works.
func TestSASLPythonImaplib(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	c := saslCluster(t)
	host, port, _ := net.SplitHostPort(c.Frontends[0].IMAPAddr)
	script := fmt.Sprintf(`
import imaplib
host, port, pw = %q, %s, %q

c = imaplib.IMAP4(host, port)
assert 'AUTH=PLAIN' in c.capabilities and 'AUTH=LOGIN' in c.capabilities, c.capabilities
c.authenticate('PLAIN', lambda _: b'bob\0helpdesk\0' + pw.encode())
typ, data = c.select('INBOX')
assert typ == 'OK' and data == [b'1'], data
typ, data = c.fetch('1', '(BODY.PEEK[HEADER.FIELDS (TO)])')
assert b'bob@example.org' in data[0][1], data
typ, data = c.append('INBOX', None, None, b'Subject: from the helpdesk\r\n\r\nhi\r\n')
assert typ == 'OK', data
c.logout()

c = imaplib.IMAP4(host, port)
try:
    c.authenticate('PLAIN', lambda _: b'bob\0alice\0' + pw.encode())
    raise SystemExit('alice acted for bob')
except imaplib.IMAP4.error as e:
    assert 'AUTHORIZATIONFAILED' in str(e), e
steps = iter([b'alice', pw.encode()])
c.authenticate('LOGIN', lambda _: next(steps))
typ, data = c.select('INBOX')
assert typ == 'OK' and data == [b'1'], data
typ, data = c.fetch('1', '(BODY.PEEK[HEADER.FIELDS (TO)])')
assert b'alice@example.org' in data[0][1], data
c.logout()

c = imaplib.IMAP4(host, port)
c.authenticate('PLAIN', lambda _: b'\0bob\0' + pw.encode())
typ, data = c.select('INBOX')
assert data == [b'2'], data
c.logout()
print('ok')
`, host, port, testcluster.Password)
	out, err := exec.Command(py, "-c", script).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
}

// curl sends its response with the command when asked (SASL-IR) and an
// authorization id with --sasl-authzid. UIDs depend on the backend's slot,
// so messages are named by sequence number (MAILINDEX).
func TestSASLCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	c := saslCluster(t)
	base := "imap://" + c.Frontends[0].IMAPAddr
	run := func(args ...string) (string, error) {
		out, err := exec.Command(curl, append([]string{"-sS", "--max-time", "30"}, args...)...).CombinedOutput()
		return string(out), err
	}
	for _, ir := range []string{"--sasl-ir", "--no-sasl-ir"} {
		out, err := run(ir, "--login-options", "AUTH=PLAIN", "-u", "helpdesk:"+testcluster.Password,
			"--sasl-authzid", "bob", base+"/INBOX;MAILINDEX=1")
		if err != nil || !strings.Contains(out, "To: bob@example.org") {
			t.Fatalf("curl %s, helpdesk as bob: %v\n%s", ir, err, out)
		}
		out, err = run(ir, "--login-options", "AUTH=LOGIN", "-u", "alice:"+testcluster.Password, base+"/INBOX;MAILINDEX=1")
		if err != nil || !strings.Contains(out, "To: alice@example.org") {
			t.Fatalf("curl %s, AUTH=LOGIN: %v\n%s", ir, err, out)
		}
		out, err = run(ir, "--login-options", "AUTH=PLAIN", "-u", "alice:"+testcluster.Password,
			"--sasl-authzid", "bob", base+"/INBOX;MAILINDEX=1")
		if err == nil || strings.Contains(out, "bob@example.org") {
			t.Fatalf("curl %s: alice acted for bob\n%s", ir, out)
		}
	}
}
