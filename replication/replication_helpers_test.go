package replication_test

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/testcluster"
	"github.com/rookery-mail/rookery/spool"
)

// deliver sends one message to rcpt through the LMTP listener at addr and
// returns the recipient's reply code (0 when the connection failed).
func deliver(addr, rcpt, msgID string) (int, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("test.example"); err != nil {
		return 0, err
	}
	if err := c.Mail("sender@example.org", nil); err != nil {
		return smtpCode(err), err
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return smtpCode(err), err
	}
	w, err := c.Data()
	if err != nil {
		return smtpCode(err), err
	}
	if _, err := w.Write([]byte(testMessage(msgID))); err != nil {
		return 0, err
	}
	if _, err := w.CloseWithLMTPResponse(); err != nil {
		var perRcpt smtp.LMTPDataError
		if errors.As(err, &perRcpt) {
			for _, e := range perRcpt {
				return e.Code, e
			}
		}
		return smtpCode(err), err
	}
	return 250, nil
}

func smtpCode(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func testMessage(msgID string) string {
	return fmt.Sprintf("From: s@example.org\r\nTo: alice@example.org\r\nSubject: %s\r\nMessage-Id: <%s@test>\r\n\r\nbody of %s\r\n", msgID, msgID, msgID)
}

// mailboxOn returns the message ids (Message-Id without brackets and
// domain) of mailbox id in backend b's store, by UID.
func mailboxOn(t *testing.T, b *testcluster.Backend, id uint64) map[uint32]string {
	t.Helper()
	msgs, err := b.Store.Messages(id)
	if err != nil {
		t.Fatalf("messages of %d on %s: %v", id, b.ID, err)
	}
	out := make(map[uint32]string, len(msgs))
	for _, m := range msgs {
		env, err := b.Store.Envelope(m.GUID)
		if err != nil {
			t.Fatal(err)
		}
		out[m.UID] = strings.TrimSuffix(env.MessageID, "@test")
	}
	return out
}

// sameRecords fails unless both backends hold the same records of id.
func sameRecords(t *testing.T, a, b *testcluster.Backend, id uint64) {
	t.Helper()
	ma, err := a.Store.Messages(id)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := b.Store.Messages(id)
	if err != nil {
		t.Fatal(err)
	}
	key := func(m spool.Message) string { return fmt.Sprintf("%d/%s/%d", m.UID, m.GUID, m.ModSeq) }
	if !slices.EqualFunc(ma, mb, func(x, y spool.Message) bool { return key(x) == key(y) }) {
		t.Fatalf("%s holds %d records, %s holds %d, or they differ", a.ID, len(ma), b.ID, len(mb))
	}
}

// inSync reads the pair's state as fresh as the leader's commit index.
// replicatedInbox starts two backends (b1, b2) and a frontend with
// replication factor 2, adds alice, whose INBOX has its primary copy on b1,
// and waits until b2's copy is in sync.
func replicatedInbox(t *testing.T) (*testcluster.Cluster, *fsm.Mailbox) {
	t.Helper()
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1, ReplicationFactor: 2})
	c.AddUser("alice", 0)
	mb := mailbox(t, c, fsm.Inbox("alice"))
	testcluster.WaitFor(t, "b2 in sync with b1", func() bool { return inSync(c, "b1", "b2") })
	return c, mb
}

func inSync(c *testcluster.Cluster, primary, replica string) bool {
	v, err := c.Voters[0].Read(testcluster.Ctx(c.T), directory.Synced)
	if err != nil {
		c.T.Fatal(err)
	}
	return v.InSync(primary, replica)
}

func mailbox(t *testing.T, c *testcluster.Cluster, name string) *fsm.Mailbox {
	t.Helper()
	v, err := c.Voters[0].Read(testcluster.Ctx(t), directory.Synced)
	if err != nil {
		t.Fatal(err)
	}
	mb, ok := v.Mailbox(name)
	if !ok {
		t.Fatalf("no mailbox %s", name)
	}
	return mb
}
