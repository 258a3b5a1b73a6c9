package lmtpd

import (
	"context"
	"errors"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
)

func dial(t testing.TB, addr string) *smtp.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := smtp.NewClientLMTP(conn)
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.example.org"); err != nil {
		t.Fatalf("LHLO: %v", err)
	}
	return c
}

func code(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	if err != nil {
		return -1
	}
	return 250
}

// send runs one transaction: the RCPT reply of each recipient, then the
// DATA reply of each accepted one.
func send(t testing.TB, c *smtp.Client, rcpts []string, body string) (rcptCodes map[string]int, dataCodes map[string]int) {
	t.Helper()
	if err := c.Mail("sender@example.org", nil); err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	rcptCodes, dataCodes = map[string]int{}, map[string]int{}
	accepted := 0
	for _, r := range rcpts {
		err := c.Rcpt(r, nil)
		rcptCodes[r] = code(err)
		if err == nil {
			accepted++
		}
	}
	if accepted == 0 {
		c.Reset()
		return rcptCodes, dataCodes
	}
	w, err := c.Data()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if _, err := w.Write([]byte(body)); err != nil {
		t.Fatalf("writing data: %v", err)
	}
	ok, err := w.CloseWithLMTPResponse()
	for r := range ok {
		dataCodes[r] = 250
	}
	var lerr smtp.LMTPDataError
	if errors.As(err, &lerr) {
		for r, se := range lerr {
			dataCodes[r] = se.Code
		}
	} else if err != nil {
		t.Fatalf("end of data: %v", err)
	}
	return rcptCodes, dataCodes
}

func TestDeliverPerRecipient(t *testing.T) {
	e := newEnv(t, 0)
	ann := e.addUser("ann", backendID)
	bob := e.addUser("bob", backendID)
	lists := e.addMailbox("user/bob/lists", backendID)
	e.apply(fsm.SetACL{Name: lists.Name, Identifier: "anyone", Rights: "p"}) // a detail needs p (fsm.MayPost)
	e.addUser("carol", "b2")
	// dave has no INBOX to take mail (an INBOX is deleted only with its
	// user, so here it was never made).
	e.apply(fsm.UserAdd{Name: "dave", PasswordHash: "x", At: time.Now().UnixNano()})

	c := dial(t, e.addr)
	rcpts := []string{"Ann@example.org", "bob+lists@example.org", "bob+nosuch@example.org",
		"nobody@example.org", "carol@example.org", "dave@example.org", "bad!user@example.org"}
	rc, dc := send(t, c, rcpts, testMessage(1))
	wantRcpt := map[string]int{"Ann@example.org": 250, "bob+lists@example.org": 250, "bob+nosuch@example.org": 250,
		"nobody@example.org": 550, "carol@example.org": 451, "dave@example.org": 451, "bad!user@example.org": 550}
	for r, want := range wantRcpt {
		if rc[r] != want {
			t.Errorf("RCPT %s: %d, want %d", r, rc[r], want)
		}
	}
	for _, r := range []string{"Ann@example.org", "bob+lists@example.org", "bob+nosuch@example.org"} {
		if dc[r] != 250 {
			t.Errorf("DATA status of %s: %d, want 250", r, dc[r])
		}
	}
	if len(dc) != 3 {
		t.Errorf("DATA statuses %v, want 3", dc)
	}
	a, b, l := e.messages(ann), e.messages(bob), e.messages(lists)
	if len(a) != 1 || len(b) != 1 || len(l) != 1 {
		t.Fatalf("stored %d/%d/%d messages, want 1 each (bob+nosuch goes to the INBOX once)", len(a), len(b), len(l))
	}
	if a[0].GUID != b[0].GUID || b[0].GUID != l[0].GUID {
		t.Fatalf("one body stored under several guids")
	}
	f, err := e.store.Body(a[0].GUID)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, err := io.ReadAll(f); err != nil || string(got) != testMessage(1) {
		t.Fatalf("stored body is %d bytes (%v), sent %d", len(got), err, len(testMessage(1)))
	}
	if err := e.store.Verify(); err != nil {
		t.Fatal(err)
	}
}

func TestTooBig(t *testing.T) {
	e := newEnv(t, 1000)
	ann := e.addUser("ann", backendID)
	c := dial(t, e.addr)
	if size, ok := c.MaxMessageSize(); !ok || size != 1000 {
		t.Fatalf("SIZE %d %v, want 1000", size, ok)
	}
	if err := c.Mail("s@example.org", &smtp.MailOptions{Size: 5000}); code(err) != 552 {
		t.Fatalf("MAIL SIZE=5000: %v", err)
	}
	_, dc := send(t, c, []string{"ann@example.org"}, strings.Repeat(strings.Repeat("x", 98)+"\r\n", 20))
	if dc["ann@example.org"] != 552 {
		t.Fatalf("oversized DATA: %v", dc)
	}
	if n := len(e.messages(ann)); n != 0 {
		t.Fatalf("oversized message stored (%d)", n)
	}
	// The connection is still usable.
	if _, dc := send(t, c, []string{"ann@example.org"}, testMessage(2)); dc["ann@example.org"] != 250 {
		t.Fatalf("delivery after refusal: %v", dc)
	}
}

// TestQuota: a recipient whose quota the message would pass gets 552 5.2.2
// at DATA while the others in the same transaction get 250; a user at
// their quota, or one a declared SIZE would take past it, is refused at
// RCPT; raising the quota lets mail in again.
func TestQuota(t *testing.T) {
	e := newEnv(t, 0)
	carol := e.addUser("carol", backendID)
	dave := e.addUser("dave", backendID)
	msg := testMessage(1)
	n := int64(len(msg))
	e.apply(fsm.UserQuota{Name: "carol", QuotaBytes: 2*n + n/2})
	c := dial(t, e.addr)

	for i := range 2 {
		if _, dc := send(t, c, []string{"carol@example.org"}, msg); dc["carol@example.org"] != 250 {
			t.Fatalf("delivery %d within quota: %v", i+1, dc)
		}
	}
	rc, dc := send(t, c, []string{"carol@example.org", "dave@example.org"}, msg)
	if rc["carol@example.org"] != 250 || dc["carol@example.org"] != 552 || dc["dave@example.org"] != 250 {
		t.Fatalf("third message: RCPT %v, DATA %v; want carol 250 then 552, dave 250", rc, dc)
	}
	var se *smtp.SMTPError
	if err := c.Mail("sender@example.org", &smtp.MailOptions{Size: n}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("carol@example.org", nil); !errors.As(err, &se) || se.Code != 552 || se.EnhancedCode != (smtp.EnhancedCode{5, 2, 2}) {
		t.Fatalf("RCPT with SIZE past the quota: %v, want 552 5.2.2", err)
	}
	if err := c.Rcpt("dave@example.org", nil); err != nil {
		t.Fatalf("RCPT dave with the same SIZE: %v", err)
	}
	c.Reset()

	e.apply(fsm.UserQuota{Name: "carol", QuotaBytes: 2 * n})
	if rc, _ := send(t, c, []string{"carol@example.org"}, msg); rc["carol@example.org"] != 552 {
		t.Fatalf("RCPT at the quota: %v, want 552", rc)
	}
	if got := len(e.messages(carol)); got != 2 {
		t.Fatalf("carol holds %d messages, want 2", got)
	}
	if got := len(e.messages(dave)); got != 1 {
		t.Fatalf("dave holds %d messages, want 1", got)
	}

	e.apply(fsm.UserQuota{Name: "carol", QuotaBytes: 0})
	if _, dc := send(t, c, []string{"carol@example.org"}, msg); dc["carol@example.org"] != 250 {
		t.Fatalf("delivery with the quota removed: %v", dc)
	}
	if err := e.store.Verify(); err != nil {
		t.Fatal(err)
	}
}

// A store that cannot commit gives a temporary failure, never a 250.
func TestStoreFailureIsTemporary(t *testing.T) {
	e := newEnv(t, 0)
	e.addUser("ann", backendID)
	c := dial(t, e.addr)
	if err := c.Mail("s@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("ann@example.org", nil); err != nil {
		t.Fatal(err)
	}
	e.store.Close()
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(testMessage(3)))
	_, err = w.CloseWithLMTPResponse()
	var lerr smtp.LMTPDataError
	if !errors.As(err, &lerr) || lerr["ann@example.org"] == nil || lerr["ann@example.org"].Code != 451 ||
		lerr["ann@example.org"].EnhancedCode != (smtp.EnhancedCode{4, 3, 0}) {
		t.Fatalf("DATA with closed store: %v", err)
	}
	if strings.Contains(lerr["ann@example.org"].Message, "spool") {
		t.Fatalf("internal error leaked to client: %q", lerr["ann@example.org"].Message)
	}
}

func TestReplyMapping(t *testing.T) {
	cases := []struct {
		err  error
		code int
		enh  smtp.EnhancedCode
	}{
		{fsm.ErrNoUser, 550, smtp.EnhancedCode{5, 1, 1}},
		{fsm.ErrMailboxMoving, 451, smtp.EnhancedCode{4, 2, 0}},
		{ErrNotHere, 451, smtp.EnhancedCode{4, 2, 0}},
		{spool.ErrNoMailbox, 451, smtp.EnhancedCode{4, 2, 0}},
		{spool.ErrTooBig, 552, smtp.EnhancedCode{5, 3, 4}},
		{spool.ErrDiskFull, 452, smtp.EnhancedCode{4, 3, 1}},
		{spool.ErrIO, 451, smtp.EnhancedCode{4, 3, 0}},
		{errors.New("anything else"), 451, smtp.EnhancedCode{4, 3, 0}},
		{smtp.ErrDataTooLarge, 552, smtp.EnhancedCode{5, 3, 4}},
		{smtp.ErrTooLongLine, 500, smtp.EnhancedCode{5, 5, 2}},
	}
	for _, c := range cases {
		r := reply(c.err)
		if r == nil || r.Code != c.code || r.EnhancedCode != c.enh {
			t.Errorf("%v: got %+v, want %d %v", c.err, r, c.code, c.enh)
		}
	}
	if reply(nil) != nil || replyErr(nil) != nil {
		t.Errorf("nil error gave a reply")
	}
}

func TestPythonLMTP(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: cannot test with smtplib.LMTP")
	}
	e := newEnv(t, 0)
	ann := e.addUser("ann", backendID)
	host, port, _ := net.SplitHostPort(e.addr)
	script := `
import smtplib, sys
c = smtplib.LMTP(sys.argv[1], int(sys.argv[2]), timeout=20)
c.ehlo('py.example.org')
refused = c.sendmail('s@example.org', ['ann@example.org', 'nobody@example.org'],
    b'Subject: from python\r\n\r\nhi\r\n')
print(sorted(refused.items()))
c.quit()
`
	cmd := exec.Command(py, "-c", script, host, port)
	cmd.WaitDelay = 30 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "('nobody@example.org', (550,") {
		t.Fatalf("python saw %s", out)
	}
	ms := e.messages(ann)
	if len(ms) != 1 {
		t.Fatalf("ann has %d messages", len(ms))
	}
	env, err := e.store.Envelope(ms[0].GUID)
	if err != nil || env.Subject != "from python" {
		t.Fatalf("envelope %+v %v", env, err)
	}
}

// staleDirectory serves an empty copy of the directory until a synced
// read, as a backend whose copy lags the leader.
type staleDirectory struct {
	directory.Directory
	stale  *fsm.FSM
	synced atomic.Bool
}

func (d *staleDirectory) Read(ctx context.Context, level directory.Level) (*fsm.View, error) {
	if level == directory.Synced {
		d.synced.Store(true)
	}
	if d.synced.Load() {
		return d.Directory.Read(ctx, level)
	}
	return d.stale.View(), nil
}

func TestUnknownRecipientTriesSyncedRead(t *testing.T) {
	e := newEnv(t, 0)
	ann := e.addUser("ann", backendID)
	dir := &staleDirectory{Directory: e.dir, stale: fsm.New()}
	cfg := Default()
	cfg.BackendID, cfg.Directory, cfg.Store = backendID, dir, e.store
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	defer func() {
		srv.Close()
		<-done
	}()
	_, dc := send(t, dial(t, l.Addr().String()), []string{"ann@example.org"}, testMessage(7))
	if dc["ann@example.org"] != 250 || !dir.synced.Load() {
		t.Fatalf("delivery to a user the local copy lacks: %v (synced read: %v)", dc, dir.synced.Load())
	}
	if n := len(e.messages(ann)); n != 1 {
		t.Fatalf("ann has %d messages", n)
	}
}

func TestConfigValidate(t *testing.T) {
	good := Default()
	good.BackendID, good.Directory, good.Store = "b", &staleDirectory{}, &spool.Store{}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for name, mutate := range map[string]func(*Config){
		"no backend":      func(c *Config) { c.BackendID = "" },
		"no directory":    func(c *Config) { c.Directory = nil },
		"no store":        func(c *Config) { c.Store = nil },
		"no recipients":   func(c *Config) { c.MaxRecipients = 0 },
		"no read timeout": func(c *Config) { c.ReadTimeout = 0 },
	} {
		c := good
		mutate(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestDeliveredReply: the 250 after DATA says the message was delivered
// (it is on disk), not go-smtp's "queued".
func TestDeliveredReply(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: cannot test with smtplib.LMTP")
	}
	e := newEnv(t, 0)
	e.addUser("ann", backendID)
	host, port, _ := net.SplitHostPort(e.addr)
	script := `
import smtplib, sys
c = smtplib.LMTP(sys.argv[1], int(sys.argv[2]), timeout=20)
c.ehlo('py.example.org')
c.mail('s@example.org')
c.rcpt('ann@example.org')
code, msg = c.data(b'Subject: reply text\r\n\r\nhi\r\n')
print(code, msg.decode())
c.quit()
`
	cmd := exec.Command(py, "-c", script, host, port)
	cmd.WaitDelay = 30 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "250 2.0.0 <ann@example.org> Delivered" {
		t.Fatalf("reply to DATA %q, want 250 2.0.0 <ann@example.org> Delivered", got)
	}
}
