package directory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/fsm"
)

// TestSnapshotSaveRestore backs the directory up through a follower,
// changes it, restores the backup through the leader, and finds the
// backup's state on every node, after a restart too. A damaged backup and
// a restore sent to a follower are refused and change nothing.
func TestSnapshotSaveRestore(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.leader()
	for i := range 5 {
		mustApply(t, leader, fsm.UserAdd{Name: fmt.Sprintf("u%d", i), PasswordHash: "x", At: time.Now().UnixNano()})
	}
	follower := c.follower()
	cl := NewClient(follower.APIAddr(), testSecret)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var backup bytes.Buffer
	index, err := cl.SaveSnapshot(ctx, &backup)
	if err != nil {
		t.Fatal(err)
	}
	if index == 0 || backup.Len() == 0 {
		t.Fatalf("backup at index %d, %d bytes", index, backup.Len())
	}
	saved := leader.fsm.Digest()
	if got := follower.fsm.Digest(); got != saved {
		t.Fatalf("the follower's digest after the backup's synced read differs from the leader's")
	}

	mustApply(t, leader, fsm.UserAdd{Name: "later", PasswordHash: "x", At: time.Now().UnixNano()})
	mustApply(t, leader, fsm.UserDelete{Name: "u0"})
	changed := leader.fsm.Digest()

	if err := cl.RestoreSnapshot(ctx, bytes.NewReader(backup.Bytes())); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("restore through a follower: %v, want ErrNotLeader", err)
	}
	damaged := backup.Bytes()[:backup.Len()/2]
	if err := cl.At(leader.APIAddr()).RestoreSnapshot(ctx, bytes.NewReader(damaged)); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("restore of half a backup: %v, want ErrBadRequest", err)
	}
	if leader.fsm.Digest() != changed {
		t.Fatal("a refused restore changed the directory")
	}

	if err := cl.At(leader.APIAddr()).RestoreSnapshot(ctx, bytes.NewReader(backup.Bytes())); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.open() {
		waitFor(t, 30*time.Second, n.ID()+" holds the restored state", func() bool { return n.fsm.Digest() == saved })
		// A synced read after the restore returns: the applied index moved
		// past the hole Raft leaves below a restored snapshot.
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := n.Read(rctx, Synced)
		rcancel()
		if err != nil {
			t.Fatalf("synced read on %s after the restore: %v", n.ID(), err)
		}
	}
	if _, ok := follower.fsm.User("u0"); !ok {
		t.Fatal("u0, deleted after the backup, is not back")
	}
	if _, ok := follower.fsm.User("later"); ok {
		t.Fatal("a user added after the backup survived the restore")
	}

	// The restored state is durable: a restarted node comes back with it,
	// and the cluster takes writes on top of it.
	id := follower.ID()
	c.close(id)
	n := c.restart(id)
	mustApply(t, c.leader(), fsm.UserAdd{Name: "after", PasswordHash: "x", At: time.Now().UnixNano()})
	waitFor(t, 30*time.Second, id+" restarted with the restored state and the next write", func() bool {
		_, u0 := n.fsm.User("u0")
		_, after := n.fsm.User("after")
		_, later := n.fsm.User("later")
		return u0 && after && !later
	})
}
