package imapd_test

import (
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/rookery-mail/rookery/backend/backendtest"
)

// CREATE (USE ...) takes the RFC 6154 attributes, whatever their case,
// and answers an unknown one NO [USEATTR] (RFC 6154 section 5.1), here on
// the backend's own port; the frontend routes CREATE itself.
func TestCreateSpecialUse(t *testing.T) {
	env := backendtest.Start(t)
	env.AddUser("alice", "alice-pw")
	c := asUser(t, env, "alice", nil)
	err := c.Create("Bogus", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{`\Bogus`}}).Wait()
	wantCode(t, `CREATE (USE (\Bogus))`, err, "USEATTR")
	if err := c.Create("Sent", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{`\sent`}}).Wait(); err != nil {
		t.Fatalf(`CREATE (USE (\sent)): %v`, err)
	}
	list, err := c.List("", "Sent", &imap.ListOptions{ReturnSpecialUse: true}).Collect()
	if err != nil || len(list) != 1 {
		t.Fatalf("LIST Sent: %v %v", list, err)
	}
	found := false
	for _, a := range list[0].Attrs {
		found = found || a == imap.MailboxAttrSent
	}
	if !found {
		t.Fatalf(`LIST Sent: attributes %v lack \Sent`, list[0].Attrs)
	}
}
