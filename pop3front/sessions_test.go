package pop3front_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/testcluster"
)

// TestCurl: curl's POP3 client lists and retrieves over plain POP3 with
// AUTH PLAIN and an initial response, over STLS, and over implicit TLS.
func TestCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1, TLS: true})
	c.AddUser("alice", 0)
	f := c.Frontends[0]
	appendMessages(t, imapLogin(t, f.IMAPAddr, "alice"), "one", "two")
	run := func(args ...string) string {
		t.Helper()
		args = append([]string{"-sS", "--max-time", "30", "-k", "-u", "alice:" + testcluster.Password}, args...)
		out, err := exec.Command(curl, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"pop3 with SASL-IR", []string{"--sasl-ir", "pop3://" + f.POP3Addr + "/"}},
		{"pop3 with STLS", []string{"--ssl-reqd", "pop3://" + f.POP3Addr + "/"}},
		{"pop3s", []string{"pop3s://" + f.POP3SAddr + "/"}},
	} {
		list := run(tc.args...)
		want := "1 " + itoa(int64(len(messageBody("one")))) + "\r\n2 " + itoa(int64(len(messageBody("two")))) + "\r\n"
		if list != want {
			t.Errorf("%s: LIST %q, want %q", tc.name, list, want)
		}
		retr := run(append(tc.args[:len(tc.args)-1:len(tc.args)-1], tc.args[len(tc.args)-1]+"2")...)
		if retr != messageBody("two") {
			t.Errorf("%s: RETR 2 = %q, want %q", tc.name, retr, messageBody("two"))
		}
	}
}

// TestCutBeforeQuit: a session whose connection is cut after DELE deletes
// nothing; one that ends with QUIT expunges, and IMAP sees it.
func TestCutBeforeQuit(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	f := c.Frontends[0]
	appendMessages(t, imapLogin(t, f.IMAPAddr, "alice"), "one", "two")
	before := uidls(t, f.POP3Addr, "alice")

	p := dialPOP(t, f.POP3Addr)
	if st := p.loginPlain("alice"); !strings.HasPrefix(st, "+OK") {
		t.Fatalf("AUTH PLAIN: %q", st)
	}
	p.must("DELE 1")
	p.must("DELE 2")
	p.must("STAT")
	p.nc.Close()

	if after := uidls(t, f.POP3Addr, "alice"); !slices.Equal(after, before) {
		t.Fatalf("after a cut session UIDL = %v, want %v", after, before)
	}
	if n := inboxCount(t, f.IMAPAddr, "alice"); n != 2 {
		t.Fatalf("IMAP sees %d messages after a cut session, want 2", n)
	}

	p = dialPOP(t, f.POP3Addr)
	p.loginPlain("alice")
	p.must("DELE 1")
	p.must("QUIT")
	if after := uidls(t, f.POP3Addr, "alice"); !slices.Equal(after, []string{"1 " + uidOf(before[1])}) {
		t.Fatalf("after QUIT UIDL = %v, want only %s", after, before[1])
	}
	if n := inboxCount(t, f.IMAPAddr, "alice"); n != 1 {
		t.Fatalf("IMAP sees %d messages after QUIT, want 1", n)
	}
}

// TestIMAPExpungeDuringSession: a message an IMAP session expunges while
// a POP3 session is open answers -ERR there; the POP3 session's numbers
// stay, and its QUIT still expunges what it deleted.
func TestIMAPExpungeDuringSession(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	f := c.Frontends[0]
	im := imapLogin(t, f.IMAPAddr, "alice")
	appendMessages(t, im, "one", "two", "three")
	p := dialPOP(t, f.POP3Addr)
	p.loginPlain("alice")
	if _, err := im.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := im.Store(seqSet(1), storeDeleted(), nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := im.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	if st := p.cmd("RETR 1"); !strings.HasPrefix(st, "-ERR") {
		t.Fatalf("RETR of a message IMAP expunged: %q", st)
	}
	p.must("RETR 2")
	if body := strings.Join(p.multi(), "\r\n") + "\r\n"; body != messageBody("two") {
		t.Fatalf("RETR 2 = %q", body)
	}
	p.must("DELE 3")
	p.must("QUIT")
	if after := uidls(t, f.POP3Addr, "alice"); len(after) != 1 {
		t.Fatalf("after QUIT UIDL = %v, want one message", after)
	}
}

// TestUIDLAcrossMove: a live move of the INBOX between two sessions keeps
// every UIDL, and the second session, on the new backend, deletes.
func TestUIDLAcrossMove(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1})
	c.AddUser("alice", 0)
	f := c.Frontends[0]
	appendMessages(t, imapLogin(t, f.IMAPAddr, "alice"), "one", "two")
	before := uidls(t, f.POP3Addr, "alice")
	open := dialPOP(t, f.POP3Addr)
	open.loginPlain("alice")
	open.must("DELE 2")

	if _, err := c.Backends[0].Role.Replication().Move(testcluster.Ctx(t), fsm.Inbox("alice"), "b2", nil); err != nil {
		t.Fatalf("move: %v", err)
	}
	testcluster.WaitFor(t, "the frontend to see the move", func() bool {
		m, ok := testcluster.Local(t, f.Node).Mailbox(fsm.Inbox("alice"))
		return ok && m.State == fsm.Active && m.Primary.Backend == "b2"
	})
	// The session opened before the move is on the old copy: its QUIT
	// deletes nothing there and says so.
	if st := open.cmd("QUIT"); !strings.HasPrefix(st, "-ERR") {
		t.Fatalf("QUIT of a session whose INBOX moved away: %q", st)
	}
	if after := uidls(t, f.POP3Addr, "alice"); !slices.Equal(after, before) {
		t.Fatalf("UIDL after the move = %v, want %v", after, before)
	}
	p := dialPOP(t, f.POP3Addr)
	p.loginPlain("alice")
	p.must("DELE 1")
	p.must("QUIT")
	if after := uidls(t, f.POP3Addr, "alice"); !slices.Equal(after, []string{"1 " + uidOf(before[1])}) {
		t.Fatalf("UIDL after a delete on the new backend = %v", after)
	}
}

// TestUIDLAcrossFailover: when the INBOX's primary dies, its replica is
// promoted and serves the same UIDLs.
func TestUIDLAcrossFailover(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1, ReplicationFactor: 2})
	c.AddUser("alice", 0)
	f := c.Frontends[0]
	appendMessages(t, imapLogin(t, f.IMAPAddr, "alice"), "one", "two", "three")
	testcluster.WaitFor(t, "b2 in sync with b1", func() bool {
		v, err := c.Voters[0].Read(testcluster.Ctx(t), directory.Synced)
		return err == nil && v.InSync("b1", "b2")
	})
	before := uidls(t, f.POP3Addr, "alice")
	p := dialPOP(t, f.POP3Addr)
	p.loginPlain("alice")
	p.must("DELE 1")

	// The test cluster's gossip is slow to declare a node dead; the
	// directory is told, as an operator or the leader would.
	c.Backends[0].Stop()
	res, err := c.Voters[0].Apply(testcluster.Ctx(t), fsm.SetBackendState{ID: "b1", State: fsm.BackendDown, At: time.Now().UnixNano()})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatalf("mark b1 down: %v", err)
	}
	testcluster.WaitFor(t, "the replica to be promoted", func() bool {
		m, ok := testcluster.Local(t, f.Node).Mailbox(fsm.Inbox("alice"))
		return ok && m.State == fsm.Active && m.Primary.Backend == "b2"
	})
	// The session on the dead primary is cut: its DELE never happened.
	if _, err := p.br.ReadString('\n'); err == nil {
		t.Fatal("the session on the dead backend goes on")
	}
	if after := uidls(t, f.POP3Addr, "alice"); !slices.Equal(after, before) {
		t.Fatalf("UIDL after failover = %v, want %v", after, before)
	}
}

// TestLoginPenaltyShared: failed POP3 logins count with the IMAP ones of
// the same address and user, and they never lock the user out: after
// more failures than a lock-out would allow, the right password logs in
// over POP3 and over IMAP.
func TestLoginPenaltyShared(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	f := c.Frontends[0]
	p := dialPOP(t, f.POP3Addr)
	for range 15 {
		p.must("USER alice")
		if st := p.cmd("PASS wrong"); !strings.HasPrefix(st, "-ERR [AUTH]") {
			t.Fatalf("PASS with a wrong password: %q", st)
		}
	}
	if d := f.IMAP.LoginDelay("127.0.0.1", "alice"); d <= 0 {
		t.Fatalf("IMAP login delay after POP3 failures %v, want one", d)
	}
	im, err := imapclient.DialInsecure(f.IMAPAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	if err := im.Login("alice", testcluster.Password).Wait(); err != nil {
		t.Fatalf("IMAP login after the POP3 failures: %v", err)
	}
	p.must("USER alice")
	if st := p.cmd("PASS " + testcluster.Password); !strings.HasPrefix(st, "+OK") {
		t.Fatalf("PASS with the right password after failures: %q", st)
	}
}
