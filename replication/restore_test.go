package replication_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/testcluster"
)

// After a replica's backend dies, its primary gives the mailbox a copy on
// the third backend by itself; once it has caught up, the primary can die
// too and the new copy, promoted, holds every acknowledged message.
// Without the restore, the second failure would leave the mailbox on no
// live copy.
func TestRestoreReplicationFactor(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 3, Frontends: 1, ReplicationFactor: 2, RestoreAfter: 300 * time.Millisecond})
	c.AddUser("alice", 0)
	mb := mailbox(t, c, fsm.Inbox("alice"))
	if len(mb.Replicas) != 1 {
		t.Fatalf("INBOX has replicas %+v, want one", mb.Replicas)
	}
	byID := map[string]*testcluster.Backend{}
	for _, b := range c.Backends {
		byID[b.ID] = b
	}
	primary, lost := byID[mb.Primary.Backend], byID[mb.Replicas[0].Backend]
	var third *testcluster.Backend
	for _, b := range c.Backends {
		if b != primary && b != lost {
			third = b
		}
	}
	testcluster.WaitFor(t, "the replica in sync", func() bool { return inSync(c, primary.ID, lost.ID) })
	const n = 5
	for i := range n {
		if code, err := deliver(c.Frontends[0].LMTPAddr, "alice@example.org", fmt.Sprintf("m%d", i)); code != 250 {
			t.Fatalf("delivery %d: %d %v", i, code, err)
		}
	}

	var highest uint32
	for uid := range mailboxOn(t, primary, mb.ID) {
		highest = max(highest, uid)
	}
	lost.Stop()
	markDown(t, c, lost.ID)
	testcluster.WaitFor(t, "a copy on "+third.ID+", caught up and in sync", func() bool {
		m := mailbox(t, c, mb.Name)
		return len(m.Replicas) == 1 && m.Replicas[0].Backend == third.ID && inSync(c, primary.ID, third.ID) &&
			len(mailboxOn(t, third, mb.ID)) == n
	})
	if st := primary.Role.Replication().Stats(); st.Restored < 1 {
		t.Fatalf("stats after the restore: restored %d", st.Restored)
	}
	testcluster.WaitFor(t, "no mailbox of "+primary.ID+" under-replicated", func() bool {
		return primary.Role.Replication().Stats().UnderReplicated == 0
	})

	primary.Stop()
	markDown(t, c, primary.ID)
	testcluster.WaitFor(t, third.ID+" primary", func() bool { return mailbox(t, c, mb.Name).Primary.Backend == third.ID })
	held := mailboxOn(t, third, mb.ID)
	for i := range n {
		if _, ok := uidOnly(held, fmt.Sprintf("m%d", i)); !ok {
			t.Fatalf("m%d lost after the second failure; %s holds %v", i, third.ID, held)
		}
	}
	// The new copy took the lost one's UID slot: it allocates far above
	// anything the lost copy may have given out unreplicated.
	testcluster.WaitFor(t, "a delivery to the new primary", func() bool {
		code, _ := deliver(c.Frontends[0].LMTPAddr, "alice@example.org", "after")
		return code == 250
	})
	if uid := uidOf(t, third, mb.ID, "after"); uid <= highest+1<<16 {
		t.Fatalf("the new primary gave uid %d in the reused slot; the old copies reached %d", uid, highest)
	}
}

// markDown records a stopped backend as down, as the leader does when
// memberlist declares it dead.
func markDown(t testing.TB, c *testcluster.Cluster, id string) {
	t.Helper()
	res, err := c.Voters[0].Apply(testcluster.Ctx(t), fsm.SetBackendState{ID: id, State: fsm.BackendDown, At: time.Now().UnixNano()})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatalf("mark %s down: %v", id, err)
	}
}
