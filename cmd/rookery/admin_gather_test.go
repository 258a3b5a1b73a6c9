package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// `admin user gather` moves a user's scattered folders to the backend of
// the user's INBOX with live moves: a session with one of them selected
// goes on across the move; other users' and shared mailboxes stay.
func TestAdminUserGather(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 3, Frontends: 1})
	t.Setenv("ROOKERY_CLUSTER_SECRET", testcluster.Secret)
	admin := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := runAdmin(append([]string{"--addr", c.Voters[0].APIAddr(), "--timeout", "1m"}, args...), &out, &errOut)
		return out.String() + errOut.String(), err
	}
	c.AddUser("alice", 0)
	c.AddUser("bob", 2)
	c.Create(1, "user/alice/Work")
	c.Create(2, "user/alice/Sent")
	c.Create(2, "user/alice/Sent/2025")
	c.Create(1, "shared/news")
	c.Create(1, "user/bob/Lists")

	f := c.Frontends[0]
	cl, err := imapclient.DialInsecure(f.IMAPAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Login("alice", testcluster.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	body := "Subject: kept\r\n\r\nkept across the gather\r\n"
	app := cl.Append("Work", int64(len(body)), nil)
	app.Write([]byte(body))
	app.Close()
	if _, err := app.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Select("Work", nil).Wait(); err != nil {
		t.Fatal(err)
	}

	out, err := admin("user", "gather", "alice")
	if err != nil || !strings.Contains(out, "gathered alice on b1: 3 mailboxes moved, 0 failed") {
		t.Fatalf("user gather: %v\n%s", err, out)
	}
	want := map[string]string{"user/alice/INBOX": "b1", "user/alice/Work": "b1", "user/alice/Sent": "b1",
		"user/alice/Sent/2025": "b1", "shared/news": "b2", "user/bob/Lists": "b2", "user/bob/INBOX": "b3"}
	testcluster.WaitFor(t, "the frontend to see the moves", func() bool {
		v := testcluster.Local(t, f.Node)
		for name, b := range want {
			if m, ok := v.Mailbox(name); !ok || m.Primary.Backend != b {
				return false
			}
		}
		return true
	})
	msgs, err := cl.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("FETCH in the session kept across the gather: %d messages, %v", len(msgs), err)
	}
	if got := string(msgs[0].FindBodySection(&imap.FetchItemBodySection{})); got != body {
		t.Fatalf("body after the gather %q", got)
	}

	out, err = admin("user", "gather", "alice")
	if err != nil || !strings.Contains(out, "0 mailboxes moved") {
		t.Fatalf("second gather: %v\n%s", err, out)
	}
}
