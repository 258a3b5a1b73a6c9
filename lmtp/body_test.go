package lmtp_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/testcluster"
	"github.com/rookery-mail/rookery/lmtp"
)

// largeBody is a message of about 300 KB, many chunks, with lines that
// start with a dot.
func largeBody(id string) string {
	var b strings.Builder
	b.WriteString("From: s@example.org\r\nSubject: large\r\nMessage-Id: <" + id + "@example.org>\r\n\r\n")
	for i := 0; b.Len() < 300<<10; i++ {
		fmt.Fprintf(&b, "line %06d 0123456789abcdefghijklmnopqrstuvwxyz\r\n", i)
		if i%100 == 0 {
			b.WriteString(".a line that starts with a dot\r\n")
		}
	}
	return b.String()
}

// TestLargeBodyStreamsIntact: a body of many chunks, with lines that need
// dot-stuffing, reaches mailboxes on both backends byte for byte.
func TestLargeBodyStreamsIntact(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1})
	c.AddUser("hana", 0)
	c.AddUser("ivan", 1)
	body := largeBody("large")
	codes := send(t, c.Frontends[0].LMTPAddr, []string{"hana@example.org", "ivan@example.org"}, body)
	if codes["hana@example.org"] != 250 || codes["ivan@example.org"] != 250 {
		t.Fatalf("replies %v", codes)
	}
	for _, u := range []string{"hana", "ivan"} {
		if got := inboxBody(t, c, u); got != body {
			t.Errorf("%s: stored body of %d bytes differs from the %d sent", u, len(got), len(body))
		}
	}
}

// TestTooBigRefusedAtData: a body over the limit, sent without SIZE, is
// refused when the proxy has read past the limit, although the proxy
// has by then passed the first part on to the backend; the backend
// delivers none of it. A message after it on the same connection is
// delivered once.
func TestTooBigRefusedAtData(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("judy", 0)
	addr := startProxy(t, c, func(cfg *lmtp.Config) { cfg.MaxMessageBytes = 100 << 10 })

	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cl := smtp.NewClientLMTP(conn)
	defer cl.Close()
	if err := cl.Hello("test"); err != nil {
		t.Fatal(err)
	}
	big := message("big") + strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n", 3000)
	if err := deliverOn(cl, "judy@example.org", big); err == nil || code(t, err) != 552 {
		t.Fatalf("a %d byte body over a 100 KiB limit: %v, want 552", len(big), err)
	}
	if err := deliverOn(cl, "judy@example.org", message("small")); err != nil {
		t.Fatalf("the next message on the connection: %v", err)
	}
	if n := inboxCount(t, c, "judy"); n != 1 {
		t.Fatalf("judy has %d messages, want 1 (only the small one)", n)
	}
}

// deliverOn runs one transaction with one recipient on cl and returns the
// recipient's reply to DATA.
func deliverOn(cl *smtp.Client, rcpt, body string) error {
	if err := cl.Mail("s@example.org", nil); err != nil {
		return err
	}
	if err := cl.Rcpt(rcpt, nil); err != nil {
		return err
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, body); err != nil {
		return err
	}
	_, err = w.CloseWithLMTPResponse()
	if de, ok := err.(smtp.LMTPDataError); ok {
		return de[rcpt]
	}
	return err
}

// inboxBody is the body of the only message in user's INBOX.
func inboxBody(t *testing.T, c *testcluster.Cluster, user string) string {
	t.Helper()
	v, err := c.Voters[0].Read(testcluster.Ctx(t), directory.Synced)
	if err != nil {
		t.Fatal(err)
	}
	mb, ok := v.Mailbox(fsm.Inbox(user))
	if !ok {
		t.Fatalf("no INBOX for %s", user)
	}
	for _, b := range c.Backends {
		if b.ID != mb.Primary.Backend {
			continue
		}
		msgs, err := b.Store.Messages(mb.ID)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("%s: %d messages, err %v", user, len(msgs), err)
		}
		f, err := b.Store.Body(msgs[0].GUID)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var got bytes.Buffer
		if _, err := io.Copy(&got, f); err != nil {
			t.Fatal(err)
		}
		return got.String()
	}
	t.Fatalf("%s is on unknown backend %s", user, mb.Primary.Backend)
	return ""
}
