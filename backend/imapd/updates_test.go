package imapd_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"

	"github.com/rookery-mail/rookery/backend/backendtest"
	"github.com/rookery-mail/rookery/fsm"
)

// An IDLE session hears of another session's APPEND, of a delivery
// straight into the store and of one through LMTP.
func TestIdleSeesAppendAndDelivery(t *testing.T) {
	env := backendtest.Start(t)
	env.AddUser("alice", "pw")
	upd, opts := newUpdates()
	idler := asUser(t, env, "alice", opts)
	if _, err := idler.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := idler.Idle()
	if err != nil {
		t.Fatalf("idle: %v", err)
	}
	other := asUser(t, env, "alice", nil)
	appendMsg(t, other, "INBOX", message("one", "x"))
	upd.waitFor(t, "EXISTS 1")

	inbox, _ := readLocal(t, env.Dir).Mailbox(fsm.Inbox("alice"))
	deliveries, err := env.Store.Deliver(backendtest.Ctx(t), []uint64{inbox.ID}, strings.NewReader(message("two", "y")), time.Now())
	if err != nil || deliveries[0].Err != nil {
		t.Fatalf("deliver: %v %+v", err, deliveries)
	}
	upd.waitFor(t, "EXISTS 2")

	// A delivery through the backend's LMTP server.
	lmtpDeliver(t, env, "alice@example.org", message("three", "z"))
	upd.waitFor(t, "EXISTS 3")

	// A flag change by the other session arrives as FETCH.
	if _, err := other.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := other.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	upd.waitFor(t, "FETCH 1")
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatalf("idle end: %v", err)
	}
}

// Two sessions on one mailbox keep their own sequence numbers: when one
// expunges, the other is told with the numbers it knows, and until it is
// told, its numbers still address the messages it knew.
func TestTwoSessionsExpunge(t *testing.T) {
	env := backendtest.Start(t)
	env.AddUser("alice", "pw")
	a := asUser(t, env, "alice", nil)
	var uids []imap.UID
	for i := 1; i <= 5; i++ {
		uids = append(uids, appendMsg(t, a, "INBOX", message(fmt.Sprintf("m%d", i), "x")).UID)
	}
	updB, optsB := newUpdates()
	b := asUser(t, env, "alice", optsB)
	if _, err := a.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// a deletes messages 2 and 4 and expunges them.
	if err := a.Store(imap.SeqSetNum(2, 4), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	gone, err := a.Expunge().Collect()
	if err != nil || !equal(gone, 2, 3) {
		t.Fatalf("a's EXPUNGE responses %v (%v), want [2 3]", gone, err)
	}
	// b has not been told yet: FETCH must not renumber (RFC 9051 7.5.1),
	// so its seq 5 is still the fifth message it knew.
	msgs, err := b.Fetch(imap.SeqSetNum(5), &imap.FetchOptions{UID: true}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].UID != uids[4] {
		t.Fatalf("b's FETCH 5 before it heard of the expunge: %v %+v", err, msgs)
	}
	// NOOP lets the server tell b, in b's numbering.
	if err := b.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	updB.waitFor(t, "EXPUNGE 2")
	updB.waitFor(t, "EXPUNGE 3")
	msgs, err = b.Fetch(imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{UID: true}).Collect()
	if err != nil || len(msgs) != 3 {
		t.Fatalf("b's FETCH 1:3 after expunge: %v %+v", err, msgs)
	}
	for i, want := range []imap.UID{uids[0], uids[2], uids[4]} {
		if msgs[i].SeqNum != uint32(i+1) || msgs[i].UID != want {
			t.Fatalf("b's message %d: seq %d uid %d, want uid %d", i+1, msgs[i].SeqNum, msgs[i].UID, want)
		}
	}
	if n := b.Mailbox().NumMessages; n != 3 {
		t.Fatalf("b counts %d messages, want 3", n)
	}
}

// lmtpDeliver delivers body to rcpt through the backend's LMTP listener
// and fails the test unless the server accepts it for that recipient.
func lmtpDeliver(t testing.TB, env *backendtest.Env, rcpt, body string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", env.Backend.LMTPAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("test.example.org"); err != nil {
		t.Fatalf("LHLO: %v", err)
	}
	if err := c.Mail("sender@example.org", nil); err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		t.Fatalf("RCPT: %v", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if _, err := w.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	ok, err := w.CloseWithLMTPResponse()
	if err != nil || len(ok) != 1 {
		t.Fatalf("LMTP delivery to %s: %v (accepted %v)", rcpt, err, ok)
	}
}
