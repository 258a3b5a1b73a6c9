package replication_test

import (
	"strings"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/testcluster"
)

// TestWriteAfterSwitchRaisesFloor: the old primary commits a write after
// the directory gave the mailbox to its replica (a delivery that passed the
// directory check just before the switch). The write is not acknowledged,
// but the old primary's store publishes it, so before it does, the new
// primary renumbers each message the old copy lacks and that lies below
// the write's UID: no client of either copy sees a new UID below one it
// could have known.
func TestWriteAfterSwitchRaisesFloor(t *testing.T) {
	c, mb := replicatedInbox(t)
	b1, b2 := c.Backends[0], c.Backends[1]
	f := c.Frontends[0]
	if code, err := deliver(f.LMTPAddr, "alice@example.org", "c1"); code != 250 {
		t.Fatalf("delivery on b1: %d %v", code, err)
	}

	if res, err := c.Voters[0].Apply(testcluster.Ctx(t), fsm.Failover{Backend: "b1", At: time.Now().UnixNano()}); err != nil || res.Err != nil || res.Count != 1 {
		t.Fatalf("failover: %+v %v", res, err)
	}
	testcluster.WaitFor(t, "every copy of the directory to name b2", func() bool {
		for _, n := range []directory.Directory{f.Node, b1.Node, b2.Node} {
			if m, _ := testcluster.Local(t, n).Mailbox(mb.Name); m == nil || m.Primary.Backend != "b2" {
				return false
			}
		}
		return true
	})
	// q1 reaches b2 only: b2 cannot replicate to b1, so b1's copy lacks it.
	testcluster.Cut(b2, b1, true)
	if code, err := deliver(f.LMTPAddr, "alice@example.org", "q1"); code != 250 {
		t.Fatalf("delivery on b2: %d %v", code, err)
	}
	q1 := uidOf(t, b2, mb.ID, "q1")
	testcluster.Cut(b2, b1, false)

	// b1, no longer primary, commits a write of its own.
	body := "From: late@example.org\r\nMessage-Id: <late@test>\r\nSubject: late\r\n\r\nlate\r\n"
	if _, err := b1.Store.Deliver(testcluster.Ctx(t), []uint64{mb.ID}, strings.NewReader(body), time.Now()); err == nil {
		t.Fatal("a write on the old primary was acknowledged")
	}
	late, ok := uidOnly(mailboxOn(t, b1, mb.ID), "late")
	if !ok {
		t.Fatal("the old primary did not commit the late write; the test sets nothing up")
	}
	held := mailboxOn(t, b2, mb.ID)
	if _, ok := uidOnly(held, "late"); ok {
		t.Fatal("the new primary adopted the unacknowledged write")
	}
	onB1 := mailboxOn(t, b1, mb.ID)
	for uid, id := range held {
		if _, shared := onB1[uid]; !shared && uid < late {
			t.Fatalf("%s has uid %d on b2, below the late write's %d on b1, which lacks it", id, uid, late)
		}
	}
	now := uidOf(t, b2, mb.ID, "q1")
	if q1 < late && now == q1 {
		t.Fatalf("q1 kept uid %d below the late write's %d", q1, late)
	}
	t.Logf("q1: uid %d, then %d; the late write on b1: uid %d", q1, now, late)
}

func uidOf(t *testing.T, b *testcluster.Backend, id uint64, msgID string) uint32 {
	t.Helper()
	uid, ok := uidOnly(mailboxOn(t, b, id), msgID)
	if !ok {
		t.Fatalf("%s not on %s", msgID, b.ID)
	}
	return uid
}

func uidOnly(held map[uint32]string, msgID string) (uint32, bool) {
	for uid, id := range held {
		if id == msgID {
			return uid, true
		}
	}
	return 0, false
}
