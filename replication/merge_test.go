package replication_test

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/testcluster"
)

// A partition between primary and replica, deliveries to the primary, a
// forced promotion of the out-of-sync replica, deliveries to it, then the
// heal: both sides' messages survive exactly once, no UID names two
// messages, and a client of the new primary sees the renumbering as
// EXPUNGE and new UIDs above every UID it knew.
func TestMergeAfterForcedPromotion(t *testing.T) {
	c, mb := replicatedInbox(t)
	b1, b2 := c.Backends[0], c.Backends[1]
	f := c.Frontends[0]
	mustDeliver := func(ids ...string) {
		t.Helper()
		for _, id := range ids {
			if code, err := deliver(f.LMTPAddr, "alice@example.org", id); code != 250 {
				t.Fatalf("delivery of %s: %d %v", id, code, err)
			}
		}
	}
	mustDeliver("c1", "c2", "c3", "c4")

	testcluster.Partition(b1, b2, true)
	mustDeliver("p1", "p2", "p3") // on b1, which drops b2 from the in-sync set
	if inSync(c, "b1", "b2") {
		t.Fatal("b2 still in sync across the partition")
	}
	if res, err := c.Voters[0].Apply(testcluster.Ctx(t), fsm.Failover{Backend: "b1", Force: true, At: time.Now().UnixNano()}); err != nil || res.Err != nil || res.Count != 1 {
		t.Fatalf("forced failover: %+v %v", res, err)
	}
	testcluster.WaitFor(t, "the frontend and b2 to follow", func() bool {
		m, _ := testcluster.Local(t, f.Node).Mailbox(fsm.Inbox("alice"))
		n, _ := testcluster.Local(t, b2.Node).Mailbox(fsm.Inbox("alice"))
		return m.Primary.Backend == "b2" && n.Primary.Backend == "b2"
	})

	var expunges atomic.Int32
	client := dialAlice(t, f.IMAPAddr, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Expunge: func(uint32) { expunges.Add(1) },
	}})
	mustDeliver("q1", "q2", "q3") // on b2, in its slot
	before := searchUIDs(t, client)
	if len(before) != 7 {
		t.Fatalf("b2 shows %d messages before the heal, want 7", len(before))
	}
	known := slices.Max(before)

	testcluster.Partition(b1, b2, false)
	testcluster.WaitFor(t, "b1 back in sync with b2", func() bool { return inSync(c, "b2", "b1") })
	sameRecords(t, b2, b1, mb.ID)

	held := mailboxOn(t, b2, mb.ID)
	var ids []string
	for _, id := range held {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	want := []string{"c1", "c2", "c3", "c4", "p1", "p2", "p3", "q1", "q2", "q3"}
	if !slices.Equal(ids, want) {
		t.Fatalf("after the merge b2 holds %v, want each of %v once", ids, want)
	}
	for uid := range held {
		if uid%2 == 0 && uid > 8 && !slices.Contains([]string{"p1", "p2", "p3"}, held[uid]) {
			t.Fatalf("uid %d of b1's slot names %s", uid, held[uid])
		}
	}
	testcluster.WaitFor(t, "the client to see the renumbering", func() bool {
		if err := client.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		return expunges.Load() > 0
	})
	after := searchUIDs(t, client)
	for _, u := range after {
		if !slices.Contains(before, u) && u < known {
			t.Fatalf("new uid %d appeared below %d (before %v, after %v)", u, known, before, after)
		}
	}
	if len(after) != 10 {
		t.Fatalf("client sees %d messages after the merge, want 10: %v", len(after), after)
	}
	for _, b := range []*testcluster.Backend{b1, b2} {
		if err := b.Store.Verify(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("merge: uids before %v, after %v, %d expunges seen", before, after, expunges.Load())
}

func dialAlice(t *testing.T, addr string, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login("alice", testcluster.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

func searchUIDs(t *testing.T, c *imapclient.Client) []imap.UID {
	t.Helper()
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return data.AllUIDs()
}
