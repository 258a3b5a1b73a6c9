package imapfront_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/testcluster"
)

// quotaConn is a client speaking raw IMAP lines to a frontend.
type quotaConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	n    int
}

func quotaLogin(t *testing.T, addr, user string) *quotaConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(time.Minute))
	q := &quotaConn{t: t, conn: conn, r: bufio.NewReader(conn)}
	q.line()
	if _, st := q.run("LOGIN " + user + " " + testcluster.Password); !strings.HasPrefix(st, "OK") {
		t.Fatalf("login %s: %s", user, st)
	}
	return q
}

func (q *quotaConn) line() string {
	q.t.Helper()
	l, err := q.r.ReadString('\n')
	if err != nil {
		q.t.Fatalf("read: %v", err)
	}
	return strings.TrimRight(l, "\r\n")
}

// run sends one command and returns its untagged lines and the tagged
// status (without the tag).
func (q *quotaConn) run(cmd string) (untagged []string, status string) {
	q.t.Helper()
	q.n++
	tag := fmt.Sprintf("q%d", q.n)
	fmt.Fprintf(q.conn, "%s %s\r\n", tag, cmd)
	for {
		l := q.line()
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return untagged, rest
		}
		untagged = append(untagged, l)
	}
}

// appendMessage APPENDs a message of exactly size bytes and returns the
// tagged status.
func (q *quotaConn) appendMessage(mailbox string, size int) string {
	q.t.Helper()
	q.n++
	tag := fmt.Sprintf("q%d", q.n)
	msg := quotaMessage(size)
	fmt.Fprintf(q.conn, "%s APPEND %s {%d+}\r\n%s\r\n", tag, mailbox, len(msg), msg)
	for {
		l := q.line()
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return rest
		}
	}
}

func quotaMessage(size int) string {
	head := "Subject: quota\r\n\r\n"
	return head + strings.Repeat("x", size-len(head))
}

// status runs cmd and checks its tagged status, whatever it says unasked.
func (q *quotaConn) status(cmd, status string) {
	q.t.Helper()
	if _, st := q.run(cmd); !strings.HasPrefix(st, status) {
		q.t.Fatalf("%s: %q, want %s", cmd, st, status)
	}
}

// want runs cmd and checks its tagged status and every untagged line.
func (q *quotaConn) want(cmd, status string, untagged ...string) {
	q.t.Helper()
	got, st := q.run(cmd)
	if !strings.HasPrefix(st, status) {
		q.t.Fatalf("%s: %q, want %s", cmd, st, status)
	}
	if strings.Join(got, "\n") != strings.Join(untagged, "\n") {
		q.t.Fatalf("%s: untagged %q, want %q", cmd, got, untagged)
	}
}

// storage is the QUOTA line of alice's root.
func storage(used, limit int) string {
	return fmt.Sprintf(`* QUOTA "User quota" (STORAGE %d %d)`, used, limit)
}

// lmtpSend delivers one message of about size bytes to rcpt through the
// frontend's LMTP proxy and returns the recipient's error, if any.
func lmtpSend(t *testing.T, addr, rcpt string, size int) error {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	lc := smtp.NewClientLMTP(conn)
	defer lc.Close()
	if err := lc.Hello("localhost"); err != nil {
		t.Fatal(err)
	}
	if err := lc.Mail("sender@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := lc.Rcpt(rcpt, nil); err != nil {
		return err
	}
	w, err := lc.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(quotaMessage(size))); err != nil {
		t.Fatal(err)
	}
	return w.Close() // one recipient: its status
}

func wantSMTPCode(t *testing.T, what string, err error, code int, enh smtp.EnhancedCode) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != code || se.EnhancedCode != enh {
		t.Fatalf("%s: %v (%+v), want %d %v", what, err, se, code, enh)
	}
}

// A user with mailboxes on three backends and a 3 KiB quota: each backend
// counts what the others hold, so no APPEND, COPY or LMTP delivery on any
// of them takes the user past it, and GETQUOTA reports the sum.
func TestQuotaAcrossBackends(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 3, Frontends: 1, QuotaCacheFor: -1})
	c.AddUser("alice", 0)
	c.Create(1, "user/alice/A")
	c.Create(2, "user/alice/B")
	c.Apply(fsm.UserQuota{Name: "alice", QuotaBytes: 3072})
	f := c.Frontends[0]
	q := quotaLogin(t, f.IMAPAddr, "alice")

	q.want("GETQUOTAROOT INBOX", "OK", `* QUOTAROOT "INBOX" "User quota"`, storage(0, 3))
	if st := q.appendMessage("INBOX", 1100); !strings.HasPrefix(st, "OK") {
		t.Fatalf("first APPEND: %s", st)
	}
	q.want(`GETQUOTA "User quota"`, "OK", storage(2, 3))
	if st := q.appendMessage("A", 1100); !strings.HasPrefix(st, "OK") {
		t.Fatalf("second APPEND: %s", st)
	}
	q.want("GETQUOTAROOT B", "OK", `* QUOTAROOT "B" "User quota"`, storage(3, 3))

	// 2200 bytes used: 1100 more on any backend would be 3300 > 3072.
	for _, mb := range []string{"INBOX", "A", "B"} {
		if st := q.appendMessage(mb, 1100); !strings.HasPrefix(st, "NO [OVERQUOTA]") {
			t.Fatalf("APPEND to %s past the quota: %s", mb, st)
		}
	}
	q.status("SELECT INBOX", "OK")
	q.status("COPY 1 INBOX", "NO [OVERQUOTA]") // on one backend
	q.status("COPY 1 B", "NO [OVERQUOTA]")     // across backends
	q.status("MOVE 1 B", "NO")                 // a MOVE within the quota is a COPY first
	q.status("UNSELECT", "OK")
	wantSMTPCode(t, "LMTP past the quota", lmtpSend(t, f.LMTPAddr, "alice@example.org", 1100), 552, smtp.EnhancedCode{5, 2, 2})
	q.want(`GETQUOTA "User quota"`, "OK", storage(3, 3))
	for _, name := range []string{fsm.Inbox("alice"), "user/alice/A", "user/alice/B"} {
		want := map[string]int{fsm.Inbox("alice"): 1, "user/alice/A": 1}[name]
		if n := c.MessageCount(name); n != want {
			t.Fatalf("%s holds %d messages, want %d", name, n, want)
		}
	}

	// A small message still fits, on a backend holding none of the usage.
	if st := q.appendMessage("B", 800); !strings.HasPrefix(st, "OK") {
		t.Fatalf("APPEND within the quota: %s", st)
	}
	// Raising the quota lets mail in again, by LMTP too.
	c.Apply(fsm.UserQuota{Name: "alice", QuotaBytes: 10240})
	if err := lmtpSend(t, f.LMTPAddr, "alice@example.org", 1100); err != nil {
		t.Fatalf("LMTP within the raised quota: %v", err)
	}
}

// GETQUOTAROOT, GETQUOTA and SETQUOTA: capabilities only after login, one
// root per user, and bad input answered BAD or NO with nothing changed.
func TestQuotaCommands(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	c.AddUser("bob", 0)
	c.AddUser("carol", 0)
	c.Create(0, "user/bob/Public")
	c.Create(0, "user/bob/Private")
	c.Apply(fsm.SetACL{Name: "user/bob/Public", Identifier: "alice", Rights: "lr"})
	c.Apply(fsm.UserQuota{Name: "alice", QuotaBytes: 4096})
	c.Apply(fsm.UserQuota{Name: "bob", QuotaBytes: 4096})
	f := c.Frontends[0]

	conn, err := net.DialTimeout("tcp", f.IMAPAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	pre := &quotaConn{t: t, conn: conn, r: bufio.NewReader(conn)}
	t.Cleanup(func() { conn.Close() })
	if greet := pre.line(); strings.Contains(greet, "QUOTA") {
		t.Fatalf("QUOTA offered before login: %s", greet)
	}
	pre.want(`GETQUOTA "User quota"`, "BAD")

	q := quotaLogin(t, f.IMAPAddr, "alice")
	caps, _ := q.run("CAPABILITY")
	if len(caps) != 1 || !strings.Contains(caps[0], " QUOTA QUOTA=RES-STORAGE") || strings.Contains(caps[0], "RES-MESSAGE") {
		t.Fatalf("capabilities after login: %q", caps)
	}
	q.appendMessage("INBOX", 1500)
	q.want(`GETQUOTA "User quota"`, "OK", storage(2, 4))
	q.want(`GETQUOTA ""`, "NO [NONEXISTENT]")
	q.want(`GETQUOTA "User quota/bob"`, "NO [NONEXISTENT]")
	q.want("GETQUOTA", "BAD")
	q.want("GETQUOTAROOT", "BAD")
	q.want(`GETQUOTA "User quota" extra`, "BAD")
	q.want("GETQUOTAROOT INBOX extra", "BAD")
	q.want("GETQUOTAROOT Nosuch", "NO [NONEXISTENT]")
	q.want(`GETQUOTAROOT "Other Users/bob/Private"`, "NO [NONEXISTENT]")
	// Another user's mailbox alice may see is under bob's quota, which is
	// not hers to read: no root.
	q.want(`GETQUOTAROOT "Other Users/bob/Public"`, "OK", `* QUOTAROOT "Other Users/bob/Public"`)
	q.want(`SETQUOTA "User quota" (STORAGE 100)`, "NO [NOPERM]")
	q.want(`SETQUOTA "User quota"`, "BAD")
	q.want(`GETQUOTAROOT inbox`, "OK", `* QUOTAROOT "INBOX" "User quota"`, storage(2, 4))

	// A user with no quota has no root.
	r := quotaLogin(t, f.IMAPAddr, "carol")
	r.want("GETQUOTAROOT INBOX", "OK", `* QUOTAROOT "INBOX"`)
	r.want(`GETQUOTA "User quota"`, "NO [NONEXISTENT]")
}

// Usage follows the directory's placement: after a failover the new
// primary's share counts, and after a live move the target's, so the
// quota holds through both.
func TestQuotaAfterFailoverAndMove(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 3, Frontends: 1, ReplicationFactor: 2, QuotaCacheFor: -1})
	c.AddUser("alice", 0)
	c.Create(1, "user/alice/Archive")
	c.Apply(fsm.UserQuota{Name: "alice", QuotaBytes: 3072})
	f := c.Frontends[0]
	q := quotaLogin(t, f.IMAPAddr, "alice")
	for _, mb := range []string{"INBOX", "Archive"} {
		if st := q.appendMessage(mb, 1100); !strings.HasPrefix(st, "OK") {
			t.Fatalf("APPEND to %s: %s", mb, st)
		}
	}
	q.want(`GETQUOTA "User quota"`, "OK", storage(3, 3))
	inbox := readAt(t, c.Voters[0], directory.Synced)
	mb, _ := inbox.Mailbox(fsm.Inbox("alice"))
	if len(mb.Replicas) == 0 {
		t.Fatalf("INBOX has no replica: %+v", mb)
	}
	testcluster.WaitFor(t, "INBOX's replica in sync", func() bool {
		return readAt(t, c.Voters[0], directory.Synced).InSync(mb.Primary.Backend, mb.Replicas[0].Backend)
	})

	c.Backends[0].Stop()
	res, err := c.Voters[0].Apply(testcluster.Ctx(t), fsm.SetBackendState{ID: c.Backends[0].ID, State: fsm.BackendDown, At: time.Now().UnixNano()})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, "INBOX failed over", func() bool {
		m, ok := readAt(t, f.Node, directory.Synced).Mailbox(fsm.Inbox("alice"))
		return ok && m.Primary.Backend != c.Backends[0].ID
	})
	q.want(`GETQUOTA "User quota"`, "OK", storage(3, 3))
	for _, mb := range []string{"INBOX", "Archive"} {
		if st := q.appendMessage(mb, 1100); !strings.HasPrefix(st, "NO [OVERQUOTA]") {
			t.Fatalf("APPEND to %s past the quota after the failover: %s", mb, st)
		}
	}

	// Move Archive to the backend that holds no copy of it.
	arch, _ := readAt(t, c.Voters[0], directory.Synced).Mailbox("user/alice/Archive")
	holders := map[string]bool{arch.Primary.Backend: true, c.Backends[0].ID: true}
	for _, r := range arch.Replicas {
		holders[r.Backend] = true
	}
	target := ""
	for _, b := range c.Backends {
		if !holders[b.ID] {
			target = b.ID
		}
	}
	if target == "" {
		t.Skipf("every live backend holds Archive: %+v", arch)
	}
	q.status("RENAME Archive Archive "+target, "OK")
	q.want(`GETQUOTA "User quota"`, "OK", storage(3, 3))
	if st := q.appendMessage("Archive", 1100); !strings.HasPrefix(st, "NO [OVERQUOTA]") {
		t.Fatalf("APPEND to Archive past the quota after the move: %s", st)
	}
}

// A backend the admitting backend cannot reach, with no figure of the
// user's share there: the write is a temporary failure, and succeeds once
// the backend answers again.
func TestQuotaBackendUnreachable(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1})
	c.AddUser("alice", 0)
	c.Create(1, "user/alice/Archive")
	c.Apply(fsm.UserQuota{Name: "alice", QuotaBytes: 10240})
	f := c.Frontends[0]
	q := quotaLogin(t, f.IMAPAddr, "alice")

	testcluster.Cut(c.Backends[0], c.Backends[1], true)
	if st := q.appendMessage("INBOX", 500); !strings.HasPrefix(st, "NO [UNAVAILABLE]") {
		t.Fatalf("APPEND with the usage on b2 unknown: %s", st)
	}
	wantSMTPCode(t, "LMTP with the usage on b2 unknown", lmtpSend(t, f.LMTPAddr, "alice@example.org", 500), 451, smtp.EnhancedCode{4, 2, 0})
	if n := c.MessageCount(fsm.Inbox("alice")); n != 0 {
		t.Fatalf("INBOX holds %d messages", n)
	}
	testcluster.Cut(c.Backends[0], c.Backends[1], false)
	if st := q.appendMessage("INBOX", 500); !strings.HasPrefix(st, "OK") {
		t.Fatalf("APPEND with b2 reachable again: %s", st)
	}
	q.want(`GETQUOTA "User quota"`, "OK", storage(1, 10))
}
