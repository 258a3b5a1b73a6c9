package replication

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// laggingDir is a primary's directory copy that has not applied the last
// commands: local reads show the view pinned before them, synced reads
// and writes reach the current state, as a follower's would.
type laggingDir struct {
	e     *env
	local *fsm.View
}

var _ directory.Directory = laggingDir{}

func (d laggingDir) Read(_ context.Context, level directory.Level) (*fsm.View, error) {
	if level == directory.Local {
		return d.local, nil
	}
	return d.e.f.View(), nil
}

func (d laggingDir) Apply(_ context.Context, c fsm.Command) (fsm.Result, error) {
	return d.e.apply(c), nil
}

func (d laggingDir) WaitApplied(ctx context.Context, index uint64) error {
	return d.e.f.WaitApplied(ctx, index)
}

// primaryWithLaggingCopy is b1's replicator over a directory copy pinned
// at stale.
func (e *env) primaryWithLaggingCopy(t *testing.T, stale *fsm.View) *Replicator {
	t.Helper()
	r, err := New(Config{BackendID: "b1", Store: e.primary, Directory: laggingDir{e, stale}, ClusterSecret: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A primary whose directory copy has not seen the failover that deposed
// it sends a change to its old replica, now the primary: the replica
// refuses the fence, and the write fails as not primary. The pair stays
// in sync: the refusal says the placement moved, not that the replica was
// lost.
func TestDeposedPrimaryDoesNotAcknowledge(t *testing.T) {
	e := setup(t)
	e.apply(fsm.SetInSync{Primary: "b1", Replica: "b2", InSync: true})
	e.appendBody(t, body(1, 10))
	stale := e.f.View()
	e.apply(fsm.Failover{Backend: "b1"})

	r := e.primaryWithLaggingCopy(t, stale)
	failed := r.Replicate(ctx(t), []uint64{e.inbox})
	if !errors.Is(failed[e.inbox], ErrNotPrimary) {
		t.Fatalf("write to a mailbox failed over away: %v, want not primary", failed[e.inbox])
	}
	if got := r.Acknowledged(); len(got) != 0 {
		t.Fatalf("a refused write is in the acknowledgement record: %+v", got)
	}
	if !e.f.InSync("b1", "b2") {
		t.Fatal("a refused fence dropped the replica from the in-sync set")
	}
}

// The same primary, its replica unreachable: it drops the replica, and
// before it acknowledges, a synced read shows the failover that committed
// before the drop. The write fails.
func TestDeposedPrimaryDoesNotAcknowledgeAfterDroppingReplica(t *testing.T) {
	e := setup(t)
	e.apply(fsm.BackendRegister{ID: "b2", APIAddr: "127.0.0.1:1"})
	e.apply(fsm.SetInSync{Primary: "b1", Replica: "b2", InSync: true})
	e.appendBody(t, body(1, 10))
	stale := e.f.View()
	e.apply(fsm.Failover{Backend: "b1"})

	failed := e.primaryWithLaggingCopy(t, stale).Replicate(ctx(t), []uint64{e.inbox})
	if !errors.Is(failed[e.inbox], ErrNotPrimary) {
		t.Fatalf("write after dropping the new primary: %v, want not primary", failed[e.inbox])
	}
}

// A failover and a failback move the epoch on while the primary stays
// where its lagging copy says: the refused fence sends it to read the
// directory again, and the write is acknowledged under the new epoch.
func TestFenceFollowsFailback(t *testing.T) {
	e := setup(t)
	e.apply(fsm.SetInSync{Primary: "b1", Replica: "b2", InSync: true})
	e.apply(fsm.SetInSync{Primary: "b2", Replica: "b1", InSync: true})
	e.appendBody(t, body(1, 10))
	stale := e.f.View()
	e.apply(fsm.Failover{Backend: "b1"})
	e.apply(fsm.Failover{Backend: "b2"})
	if mb, _ := e.f.MailboxByID(e.inbox); mb.Primary.Backend != "b1" || mb.Epoch != 2 {
		t.Fatalf("after failback: primary %s at epoch %d", mb.Primary.Backend, mb.Epoch)
	}

	r := e.primaryWithLaggingCopy(t, stale)
	if failed := r.Replicate(ctx(t), []uint64{e.inbox}); failed[e.inbox] != nil {
		t.Fatalf("write after failback: %v", failed[e.inbox])
	}
	// Acknowledged under the epoch the fence was sent with, not the
	// stale copy's.
	if got := r.Acknowledged(); len(got) != 1 || got[0].ID != e.inbox || !slices.Equal(got[0].Epochs, []uint64{2}) {
		t.Fatalf("acknowledgement record %+v, want mailbox %d at epoch 2", got, e.inbox)
	}
	if msgs, err := e.replica.Messages(e.inbox); err != nil || len(msgs) != 1 {
		t.Fatalf("replica holds %d messages (%v), want 1", len(msgs), err)
	}
}

// The acknowledgement record keeps the last epochs of each mailbox and a
// bounded number of mailboxes.
func TestAckRecordBounds(t *testing.T) {
	var a ackRecord
	for e := uint64(1); e <= maxAckedEpochs+2; e++ {
		a.add(7, e)
		a.add(7, e)
	}
	if got := a.list(); len(got) != 1 || !slices.Equal(got[0].Epochs, []uint64{3, 4, 5, 6}) {
		t.Fatalf("record of one mailbox: %+v", got)
	}
	for id := uint64(100); id < 100+maxAckedMailboxes+1; id++ {
		a.add(id, 1)
	}
	if n := len(a.list()); n > maxAckedMailboxes {
		t.Fatalf("record holds %d mailboxes, bound %d", n, maxAckedMailboxes)
	}
}
