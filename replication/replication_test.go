package replication_test

import (
	"fmt"
	"testing"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/testcluster"
)

// Mail delivered to a primary is on its in-sync replica when the delivery
// is acknowledged; a replica that stops leaves the in-sync set and comes
// back to it by itself, caught up, after a restart.
func TestReplicaCatchUpAfterRestart(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1, ReplicationFactor: 2})
	c.AddUser("alice", 0)
	b1, b2 := c.Backends[0], c.Backends[1]
	mb := mailbox(t, c, fsm.Inbox("alice"))
	if mb.Primary.Backend != "b1" || len(mb.Replicas) != 1 || mb.Replicas[0].Backend != "b2" {
		t.Fatalf("placement: primary %+v replicas %+v", mb.Primary, mb.Replicas)
	}
	testcluster.WaitFor(t, "b2 in sync with b1", func() bool { return inSync(c, "b1", "b2") })
	lmtp := c.Frontends[0].LMTPAddr
	for i := range 5 {
		if code, err := deliver(lmtp, "alice@example.org", fmt.Sprintf("m%d", i)); code != 250 {
			t.Fatalf("delivery %d: %d %v", i, code, err)
		}
		// Acknowledged means on the replica too, with no waiting.
		if got := len(mailboxOn(t, b2, mb.ID)); got != i+1 {
			t.Fatalf("after delivery %d the replica holds %d messages", i, got)
		}
	}
	sameRecords(t, b1, b2, mb.ID)

	b2.Stop()
	for i := 5; i < 10; i++ {
		if code, err := deliver(lmtp, "alice@example.org", fmt.Sprintf("m%d", i)); code != 250 {
			t.Fatalf("delivery %d with the replica down: %d %v", i, code, err)
		}
	}
	if inSync(c, "b1", "b2") {
		t.Fatal("a stopped replica is still in sync")
	}
	b2.Start()
	testcluster.WaitFor(t, "b2 back in sync", func() bool { return inSync(c, "b1", "b2") })
	sameRecords(t, b1, b2, mb.ID)
	if got := len(mailboxOn(t, b2, mb.ID)); got != 10 {
		t.Fatalf("caught-up replica holds %d messages, want 10", got)
	}
	if err := b2.Store.Verify(); err != nil {
		t.Fatal(err)
	}

	// A deleted mailbox leaves its replica too.
	tmp := c.Create(0, "user/alice/Tmp")
	testcluster.WaitFor(t, "b2's copy of Tmp", func() bool {
		st, err := b2.Store.ReplicaState(tmp.ID)
		return err == nil && st.Exists && inSync(c, "b1", "b2")
	})
	if err := b1.Role.Delete(testcluster.Ctx(t), "user/alice/Tmp"); err != nil {
		t.Fatal(err)
	}
	if st, err := b2.Store.ReplicaState(tmp.ID); err != nil || st.Exists {
		t.Fatalf("b2 kept its copy of a deleted mailbox (%v)", err)
	}
}
