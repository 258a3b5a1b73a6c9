package lmtp_test

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/testcluster"
)

// send runs one LMTP transaction and returns the reply code of each
// recipient: the RCPT reply where RCPT was refused, else the DATA reply.
func send(t *testing.T, addr string, rcpts []string, body string) map[string]int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("test.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("sender@example.org", nil); err != nil {
		t.Fatal(err)
	}
	codes := map[string]int{}
	var accepted int
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			codes[r] = code(t, err)
			continue
		}
		accepted++
		codes[r] = 0
	}
	if accepted == 0 {
		return codes
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	ok, err := w.CloseWithLMTPResponse()
	var perRcpt smtp.LMTPDataError
	if err != nil && !errors.As(err, &perRcpt) {
		t.Fatal(err)
	}
	for r := range ok {
		codes[r] = 250
	}
	for r, e := range perRcpt {
		codes[r] = e.Code
	}
	return codes
}

func code(t *testing.T, err error) int {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("not an SMTP reply: %v", err)
	}
	return se.Code
}

func message(id string) string {
	return "From: sender@example.org\r\nSubject: test " + id + "\r\nMessage-Id: <" + id + "@example.org>\r\n\r\nhello " + id + "\r\n"
}

// inboxCount is how many messages user's INBOX holds on its backend.
func inboxCount(t *testing.T, c *testcluster.Cluster, user string) int {
	t.Helper()
	return c.MessageCount(fsm.Inbox(user))
}

// tenUsers adds u0..u9, even ones on backend 0 and odd ones on backend 1.
func tenUsers(c *testcluster.Cluster) []string {
	var rcpts []string
	for i := range 10 {
		u := fmt.Sprintf("u%d", i)
		c.AddUser(u, i%2)
		rcpts = append(rcpts, u+"@example.org")
	}
	return rcpts
}

func TestOneMessageToTenRecipientsOnTwoBackends(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1})
	rcpts := tenUsers(c)
	codes := send(t, c.Frontends[0].LMTPAddr, rcpts, message("m1"))
	for _, r := range rcpts {
		if codes[r] != 250 {
			t.Errorf("%s: got %d, want 250", r, codes[r])
		}
	}
	for i := range 10 {
		if n := inboxCount(t, c, fmt.Sprintf("u%d", i)); n != 1 {
			t.Errorf("u%d has %d messages, want 1", i, n)
		}
	}
}

func TestBackendDownGets451AndRetryDeliversOnce(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1})
	rcpts := tenUsers(c)
	t0 := time.Now()
	c.Backends[1].Stop()
	t.Logf("stopped b2 in %v", time.Since(t0))

	codes := send(t, c.Frontends[0].LMTPAddr, rcpts, message("m2"))
	var retry []string
	for i, r := range rcpts {
		want := 250
		if i%2 == 1 {
			want = 451
			retry = append(retry, r)
		}
		if codes[r] != want {
			t.Errorf("%s with backend b2 down: got %d, want %d", r, codes[r], want)
		}
	}

	t.Logf("first delivery done at %v", time.Since(t0))
	c.Backends[1].Start()
	t.Logf("b2 started again at %v", time.Since(t0))
	f := c.Frontends[0].Node
	testcluster.WaitFor(t, "b2 up again in the frontend's copy", func() bool {
		v, err := f.Read(testcluster.Ctx(t), directory.Local)
		if err != nil {
			t.Fatal(err)
		}
		b, ok := v.Backend("b2")
		return ok && b.State == fsm.BackendUp
	})
	codes = send(t, c.Frontends[0].LMTPAddr, retry, message("m2"))
	for _, r := range retry {
		if codes[r] != 250 {
			t.Errorf("%s on retry: got %d, want 250", r, codes[r])
		}
	}
	for i := range 10 {
		if n := inboxCount(t, c, fmt.Sprintf("u%d", i)); n != 1 {
			t.Errorf("u%d has %d messages after the retry, want exactly 1", i, n)
		}
	}
}

// TestOverQuotaThroughProxy: a backend's 552 5.2.2 for a recipient over
// quota reaches the client through the proxy for that recipient alone,
// whether the backend refuses it at RCPT (the user is full) or at the end
// of the body (this message would pass the quota); the connection to the
// backend stays in step for the next transaction, after a refusal of
// every recipient it had, with a body in one chunk or in many.
func TestOverQuotaThroughProxy(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1})
	c.AddUser("full", 0)
	c.AddUser("other", 0)
	c.AddUser("roomy", 1)
	addr := c.Frontends[0].LMTPAddr
	setQuota := func(n int64) {
		t.Helper()
		res, err := c.Voters[0].Apply(testcluster.Ctx(t), fsm.UserQuota{Name: "full", QuotaBytes: n})
		if err == nil {
			err = res.Err
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Backends[0].Node.WaitApplied(testcluster.Ctx(t), res.Index); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(what string, codes map[string]int, want map[string]int) {
		t.Helper()
		for r, w := range want {
			if codes[r] != w {
				t.Errorf("%s: %s got %d, want %d", what, r, codes[r], w)
			}
		}
	}

	// Under the quota, but this message would pass it: refused at the end.
	setQuota(int64(len(message("q0"))) / 2)
	expect("past the quota", send(t, addr, []string{"full@example.org", "roomy@example.org"}, message("q0")),
		map[string]int{"full@example.org": 552, "roomy@example.org": 250})

	// Full already: the backend refuses the RCPT the proxy accepted.
	setQuota(0)
	expect("no quota", send(t, addr, []string{"full@example.org"}, message("q1")), map[string]int{"full@example.org": 250})
	setQuota(10)
	expect("full, alone on its backend", send(t, addr, []string{"full@example.org", "roomy@example.org"}, message("q2")),
		map[string]int{"full@example.org": 552, "roomy@example.org": 250})
	expect("full, with another user", send(t, addr, []string{"full@example.org", "other@example.org"}, message("q3")),
		map[string]int{"full@example.org": 552, "other@example.org": 250})
	expect("full, large body", send(t, addr, []string{"full@example.org"}, largeBody("q4")),
		map[string]int{"full@example.org": 552})
	expect("after the refusals", send(t, addr, []string{"other@example.org"}, largeBody("q5")),
		map[string]int{"other@example.org": 250})

	for u, want := range map[string]int{"full": 1, "other": 2, "roomy": 2} {
		if n := inboxCount(t, c, u); n != want {
			t.Errorf("%s holds %d messages, want %d", u, n, want)
		}
	}
}

func TestRecipientErrors(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	addr := c.Frontends[0].LMTPAddr
	codes := send(t, addr, []string{
		"nobody@example.org",  // unknown user
		"\"a b\"@example.org", // quoted local part
		"ALICE@example.org",   // case-insensitive local part
		"alice@example.org",   // the same mailbox again: delivered once
	}, message("m3"))
	want := map[string]int{"nobody@example.org": 550, "\"a b\"@example.org": 553, "ALICE@example.org": 250, "alice@example.org": 250}
	for r, w := range want {
		if codes[r] != w {
			t.Errorf("%s: got %d, want %d", r, codes[r], w)
		}
	}
	if n := inboxCount(t, c, "alice"); n != 1 {
		t.Errorf("alice has %d messages, want 1 (two addresses, one mailbox)", n)
	}
}

func TestDetailGoesToFolder(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("bob", 0)
	c.Create(0, "user/bob/Lists")
	c.Apply(fsm.SetACL{Name: "user/bob/Lists", Identifier: "anyone", Rights: "p"}) // a detail needs p (fsm.MayPost)
	codes := send(t, c.Frontends[0].LMTPAddr, []string{"bob+Lists@example.org", "bob+nosuch@example.org"}, message("m4"))
	if codes["bob+Lists@example.org"] != 250 || codes["bob+nosuch@example.org"] != 250 {
		t.Fatalf("replies %v", codes)
	}
	if n := c.MessageCount("user/bob/Lists"); n != 1 {
		t.Errorf("Lists has %d messages, want 1", n)
	}
	if n := inboxCount(t, c, "bob"); n != 1 {
		t.Errorf("INBOX has %d messages, want 1 (unknown detail falls back to INBOX)", n)
	}
}

func TestTooBigRefusedAtMail(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("carol", 0)
	conn, err := net.Dial("tcp", c.Frontends[0].LMTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	cl := smtp.NewClientLMTP(conn)
	defer cl.Close()
	if err := cl.Hello("test"); err != nil {
		t.Fatal(err)
	}
	err = cl.Mail("s@example.org", &smtp.MailOptions{Size: 100 << 20})
	if err == nil || code(t, err) != 552 {
		t.Fatalf("MAIL with SIZE=100MiB over a 50MiB limit: %v, want 552", err)
	}
	if n := inboxCount(t, c, "carol"); n != 0 {
		t.Fatalf("carol has %d messages", n)
	}
}

func TestPythonSmtplibLMTP(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: skipping the smtplib.LMTP client test")
	}
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1})
	c.AddUser("dave", 0)
	c.AddUser("erin", 1)
	host, port, _ := net.SplitHostPort(c.Frontends[0].LMTPAddr)
	script := `
import smtplib, sys
l = smtplib.LMTP(sys.argv[1], int(sys.argv[2]))
refused = l.sendmail("s@example.org", ["dave@example.org", "erin@example.org", "zed@example.org"],
    b"Subject: py\r\nMessage-Id: <py@example.org>\r\n\r\nfrom python\r\n")
for r, (code, msg) in sorted(refused.items()):
    print(r, code)
l.quit()
`
	out, err := exec.Command(py, "-c", script, host, port).CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "zed@example.org 550" {
		t.Fatalf("refused recipients: %q, want only zed with 550", got)
	}
	if inboxCount(t, c, "dave") != 1 || inboxCount(t, c, "erin") != 1 {
		t.Fatal("dave and erin should each have one message")
	}
}

func TestSwaks(t *testing.T) {
	swaks, err := exec.LookPath("swaks")
	if err != nil {
		t.Skip("swaks is not installed: skipping the swaks client test")
	}
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("frank", 0)
	out, err := exec.Command(swaks, "--protocol", "LMTP", "--server", c.Frontends[0].LMTPAddr,
		"--from", "s@example.org", "--to", "frank@example.org", "--timeout", "30").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "<-  250 2.0.0") {
		t.Fatalf("swaks saw no 250:\n%s", out)
	}
	if n := inboxCount(t, c, "frank"); n != 1 {
		t.Fatalf("frank has %d messages", n)
	}
}
