package backend_test

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// TestRebalancerGathersUsersFolders: with gather_interval set, the
// backends move each user's folders to the backend of the user's INBOX by
// themselves, a session with one of them selected going on across the
// move, while a shared mailbox and the INBOXes stay.
func TestRebalancerGathersUsersFolders(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 3, Frontends: 1, GatherInterval: 50 * time.Millisecond})
	c.AddUser("alice", 0)
	c.AddUser("bob", 2)
	c.Create(1, "user/alice/Work")
	c.Create(2, "user/alice/Sent")
	c.Create(1, "shared/news")
	c.Create(1, "user/bob/Lists")

	cl, err := imapclient.DialInsecure(c.Frontends[0].IMAPAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Login("alice", testcluster.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Select("Work", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"user/alice/INBOX": "b1", "user/alice/Work": "b1", "user/alice/Sent": "b1",
		"shared/news": "b2", "user/bob/Lists": "b3", "user/bob/INBOX": "b3"}
	testcluster.WaitFor(t, "the rebalancer to gather every user's folders", func() bool {
		v := testcluster.Local(t, c.Frontends[0].Node)
		for name, b := range want {
			if m, ok := v.Mailbox(name); !ok || m.Primary.Backend != b {
				return false
			}
		}
		return true
	})
	body := "Subject: after\r\n\r\nappended after the gather\r\n"
	app := cl.Append("Work", int64(len(body)), nil)
	app.Write([]byte(body))
	app.Close()
	if _, err := app.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := cl.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	if err != nil || len(msgs) != 1 || string(msgs[0].FindBodySection(&imap.FetchItemBodySection{})) != body {
		t.Fatalf("FETCH in the session kept across the gather: %d messages, %v", len(msgs), err)
	}
}
