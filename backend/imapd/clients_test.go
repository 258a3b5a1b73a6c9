package imapd_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/backend/backendtest"
)

// pythonIMAP drives the backend with Python's imaplib: the client many
// scripts and tools use.
const pythonIMAP = `
import imaplib, sys
port, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def ok(res, what):
    typ, data = res
    if typ != 'OK':
        sys.exit('%s: %s %r' % (what, typ, data))
    return data
m = imaplib.IMAP4('127.0.0.1', port)
ok(m.login(user, pw), 'login')
ok(m.create('Py'), 'create')
msg = b'From: py@example.org\r\nSubject: from python\r\n\r\nhello from imaplib\r\n'
data = ok(m.append('Py', '(\\Flagged)', None, msg), 'append')
data = ok(m.select('Py'), 'select')
if data[0] != b'1':
    sys.exit('select: %r messages' % data)
data = ok(m.fetch('1', '(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT])'), 'fetch')
blob = b''.join(p if isinstance(p, bytes) else b''.join(p) for p in data)
if b'from python' not in blob or b'hello from imaplib' not in blob or b'\\Flagged' not in blob:
    sys.exit('fetch: %r' % data)
ok(m.store('1', '+FLAGS', '(\\Deleted)'), 'store')
data = ok(m.expunge(), 'expunge')
if data != [b'1']:
    sys.exit('expunge: %r' % data)
data = ok(m.status('Py', '(MESSAGES)'), 'status')
if b'MESSAGES 0' not in data[0]:
    sys.exit('status: %r' % data)
m.logout()
print('python imaplib ok')
`

func TestPythonImaplib(t *testing.T) {
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		p, err := exec.LookPath("python3")
		if err != nil {
			t.Skip("python3 is not installed: cannot run the imaplib client test")
		}
		python = p
	}
	env := backendtest.Start(t)
	env.AddUser("pyuser", "py-pw")
	script := filepath.Join(t.TempDir(), "client.py")
	if err := os.WriteFile(script, []byte(pythonIMAP), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, script, port(t, env), "pyuser", "py-pw").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "python imaplib ok") {
		t.Fatalf("python imaplib: %v\n%s", err, out)
	}
}

func TestCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed: cannot run the curl client test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if v, err := exec.CommandContext(ctx, curl, "--version").Output(); err != nil || !strings.Contains(string(v), " imap ") {
		t.Skip("curl lacks IMAP support")
	}
	env := backendtest.Start(t)
	env.AddUser("curly", "curl-pw")
	c := asUser(t, env, "curly", nil)
	uid := appendMsg(t, c, "INBOX", message("for curl", "body seen by curl")).UID

	base := "imap://127.0.0.1:" + port(t, env)
	run := func(args ...string) string {
		t.Helper()
		args = append([]string{"--silent", "--show-error", "--max-time", "30", "-u", "curly:curl-pw"}, args...)
		out, err := exec.CommandContext(ctx, curl, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// EXAMINE-like listing of INBOX, then a message by UID.
	if out := run("--url", base+"/INBOX", "-X", "SEARCH ALL"); !strings.Contains(out, "SEARCH 1") {
		t.Fatalf("curl SEARCH ALL: %q", out)
	}
	if out := run("--url", base+"/INBOX;UID="+strconv.Itoa(int(uid))); !strings.Contains(out, "body seen by curl") {
		t.Fatalf("curl fetch: %q", out)
	}
	if out := run("--url", base+"/"); !strings.Contains(out, "INBOX") {
		t.Fatalf("curl list: %q", out)
	}
}

func port(t testing.TB, env *backendtest.Env) string {
	t.Helper()
	addr := env.Backend.IMAPAddr()
	return addr[strings.LastIndexByte(addr, ':')+1:]
}
