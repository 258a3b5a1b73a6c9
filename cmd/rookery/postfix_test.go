package main

import (
	"fmt"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// postfixMain is the main.cf docs/postfix.md gives for LMTP over loopback
// TCP, with the paths and ports of a Postfix instance of the test's own:
// a queue in the test's directory, SMTP on a loopback port.
const postfixMain = `compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-rookery-test
myhostname = mx.test.example
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
smtputf8_enable = no
# From docs/postfix.md, "Over loopback TCP":
virtual_mailbox_domains = example.org
virtual_transport = lmtp:inet:%[2]s
lmtp_destination_recipient_limit = 50
`

// postfixMaster: the services a delivery needs, none chrooted, SMTP on
// the test's port.
const postfixMaster = `%[1]s inet n - n - - smtpd
pickup    unix n - n 60   1 pickup
cleanup   unix n - n -    0 cleanup
qmgr      unix n - n 300  1 qmgr
rewrite   unix - - n -    - trivial-rewrite
bounce    unix - - n -    0 bounce
defer     unix - - n -    0 bounce
trace     unix - - n -    0 bounce
verify    unix - - n -    1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n -    - proxymap
showq     unix n - n -    - showq
error     unix - - n -    - error
retry     unix - - n -    - error
discard   unix - - n -    - discard
lmtp      unix - - n -    - lmtp
smtp      unix - - n -    - smtp
anvil     unix - - n -    1 anvil
scache    unix - - n -    1 scache
postlog   unix-dgram n - n - 1 postlogd
`

// TestPostfixDeliversOverLMTP follows docs/postfix.md's loopback TCP
// set-up with Debian's Postfix, started and stopped by the test in a
// config directory of its own (postfix -c DIR): a message sent to
// Postfix's SMTP port lands in the user's INBOX through the frontend's
// LMTP proxy, and one for an unknown user is not delivered anywhere.
func TestPostfixDeliversOverLMTP(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/postfix"); err != nil {
		t.Skip("postfix test skipped: /usr/sbin/postfix not installed (scripts/test.sh installs Debian's postfix as root)")
	}
	if os.Getuid() != 0 {
		t.Skip("postfix test skipped: postfix -c DIR start needs root")
	}
	// Postfix's daemons run as user postfix: the directory must be
	// reachable for it, which t.TempDir's 0700 is not.
	dir, err := os.MkdirTemp("", "rookery-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"queue", "data"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := exec.Command("chown", "postfix", filepath.Join(dir, "data")).Run(); err != nil {
		t.Skipf("postfix test skipped: no user postfix to own its data directory: %v", err)
	}
	log := func() string { b, _ := os.ReadFile(filepath.Join(dir, "maillog")); return string(b) }
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	smtpAddr := testcluster.FreeAddr(t)
	for name, text := range map[string]string{
		"main.cf":   fmt.Sprintf(postfixMain, dir, c.Frontends[0].LMTPAddr),
		"master.cf": fmt.Sprintf(postfixMaster, smtpAddr),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	postfix := func(args ...string) {
		t.Helper()
		out, err := exec.Command("/usr/sbin/postfix", append([]string{"-c", dir}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("postfix %s: %v\n%s\n%s", strings.Join(args, " "), err, out, log())
		}
	}
	postfix("start")
	t.Cleanup(func() { exec.Command("/usr/sbin/postfix", "-c", dir, "stop").Run() })

	var cl *smtp.Client
	testcluster.WaitFor(t, "postfix's SMTP port", func() bool {
		cl, err = smtp.Dial(smtpAddr)
		return err == nil
	})
	body := "From: bob@sender.example\r\nTo: alice@example.org\r\nSubject: via postfix\r\n\r\ndelivered by postfix over LMTP\r\n"
	send := func(rcpt string) {
		t.Helper()
		if err := cl.Mail("bob@sender.example"); err != nil {
			t.Fatal(err)
		}
		if err := cl.Rcpt(rcpt); err != nil {
			t.Fatalf("RCPT %s: %v", rcpt, err)
		}
		w, err := cl.Data()
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	send("alice@example.org")
	send("nobody@example.org")
	cl.Quit()

	testcluster.WaitFor(t, "the message in alice's INBOX", func() bool { return c.MessageCount("user/alice/INBOX") == 1 })
	testcluster.WaitFor(t, "postfix to log both outcomes", func() bool {
		l := log()
		return strings.Contains(l, "to=<alice@example.org>") && strings.Contains(l, "status=sent (250 2.") &&
			strings.Contains(l, "to=<nobody@example.org>") && strings.Contains(l, "status=bounced")
	})
	if n := c.MessageCount("user/alice/INBOX"); n != 1 {
		t.Fatalf("alice's INBOX has %d messages, want 1\n%s", n, log())
	}
}
