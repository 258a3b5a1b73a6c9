package directory

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rookery-mail/rookery/fsm"
)

func TestLeaderCloseElectsNewLeaderAndWritesContinue(t *testing.T) {
	c := startCluster(t, 3, "f1")
	old := c.leader()
	registerBackend(t, c.nodes["f1"], "b1")
	c.close(old.ID())

	leader := c.leader()
	if leader == old {
		t.Fatal("closed leader still leads")
	}
	var last fsm.Result
	for _, n := range c.open() {
		last = mustApply(t, n, reserve("shared/after-"+n.ID(), "b1", "r"))
	}
	c.waitConverged(last.Index)
}

func TestRestartFromDataDirKeepsState(t *testing.T) {
	c := startCluster(t, 3, "f1")
	leader := c.leader()
	registerBackend(t, leader, "b1")
	var last fsm.Result
	for i := range 20 {
		last = mustApply(t, c.open()[i%4], reserve(fmt.Sprintf("shared/m%02d", i), "b1", "r"))
	}
	// A snapshot on one node, so that restart covers snapshot plus log.
	if err := leader.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	last = mustApply(t, leader, fsm.Activate{Name: "shared/m00", Reservation: "r"})
	c.waitConverged(last.Index)
	want := leader.fsm.Digest()

	for _, id := range c.order {
		c.close(id)
	}
	for _, id := range c.order {
		c.restart(id)
	}
	c.leader()
	// The restarted nodes replay their own disks; no write is needed.
	c.waitConverged(last.Index)
	for _, n := range c.open() {
		if got := n.fsm.Digest(); got != want {
			t.Fatalf("%s digest after restart %x, want %x", n.ID(), got, want)
		}
	}
	mustApply(t, c.nodes["f1"], reserve("shared/after-restart", "b1", "r"))
}

func TestDigestsEqualAfterManyWrites(t *testing.T) {
	c := startCluster(t, 3, "f1")
	registerBackend(t, c.leader(), "b1")
	registerBackend(t, c.leader(), "b2")
	nodes := c.open()
	var last fsm.Result
	for i := range 30 {
		n := nodes[i%len(nodes)]
		name := fmt.Sprintf("shared/d%02d", i)
		mustApply(t, n, fsm.Reserve{Name: name, Backend: "b1", Replicas: []string{"b2"},
			Reservation: "r", At: time.Now().UnixNano()})
		last = mustApply(t, nodes[(i+1)%len(nodes)], fsm.Activate{Name: name, Reservation: "r"})
		if i%3 == 0 {
			mustApply(t, n, fsm.MarkDeleting{Name: name})
			last = mustApply(t, n, fsm.Remove{Name: name, ID: last.Mailbox.ID})
		}
	}
	mustApply(t, nodes[1], fsm.UserAdd{Name: "alice", PasswordHash: "$2a$10$x", At: time.Now().UnixNano()})
	last = mustApply(t, nodes[2], fsm.Subscribe{User: "alice", Name: "shared/d01"})
	c.waitConverged(last.Index)
}

func TestWriteWithoutQuorumFailsInTime(t *testing.T) {
	c := startCluster(t, 3, "f1")
	registerBackend(t, c.leader(), "b1")
	survivor := c.follower()
	before := mustApply(t, survivor, reserve("shared/before", "b1", "r"))
	c.waitConverged(before.Index)
	want := survivor.fsm.Digest()
	for _, n := range c.open() {
		if n != survivor && n.cfg.Voter() {
			c.close(n.ID())
		}
	}
	// Once the survivor knows it cannot lead, nothing can be appended.
	waitFor(t, 10*time.Second, "survivor without leader", func() bool {
		id, _ := survivor.Leader()
		return id == "" && survivor.raft.State() != raft.Leader
	})
	for _, n := range []*Node{survivor, c.nodes["f1"]} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		start := time.Now()
		_, err := n.Apply(ctx, reserve("shared/never", "b1", "r"))
		cancel()
		if !errors.Is(err, ErrNoLeader) && !errors.Is(err, ErrNoQuorum) {
			t.Fatalf("write through %s without quorum: %v, want ErrNoLeader or ErrNoQuorum", n.ID(), err)
		}
		t.Logf("%s failed after %v: %v", n.ID(), time.Since(start), err)
		ctx, cancel = context.WithTimeout(context.Background(), 500*time.Millisecond)
		if _, err := n.Read(ctx, Synced); !errors.Is(err, ErrNoLeader) {
			t.Fatalf("synced read without quorum: %v, want ErrNoLeader", err)
		}
		cancel()
	}
	if got := survivor.fsm.Digest(); got != want {
		t.Fatal("a failed write changed the survivor's state")
	}
	if _, ok := survivor.fsm.Mailbox("shared/never"); ok {
		t.Fatal("failed write is visible")
	}
}

func TestFailedBackendReservationsReleased(t *testing.T) {
	c := startCluster(t, 3)
	bcfg := testConfig(t, "be1", RoleBackend)
	bcfg.Tags = map[string]string{TagBackendID: "b9", TagIMAPAddr: "127.0.0.1:2143", TagLMTPAddr: "127.0.0.1:2024"}
	c.start(bcfg)
	c.waitMembers("v1", "v2", "v3", "be1")
	leader := c.leader()
	waitFor(t, 10*time.Second, "backend b9 registered", func() bool {
		b, ok := leader.fsm.Backend("b9")
		return ok && b.State == fsm.BackendUp && b.IMAPAddr == "127.0.0.1:2143"
	})
	registerBackend(t, leader, "b1")
	// b9 crashes between Reserve and Activate.
	mustApply(t, c.follower(), reserve("shared/poisoned", "b9", "r9"))
	mustApply(t, c.follower(), reserve("shared/kept", "b1", "r1"))
	c.close("be1")

	waitFor(t, 30*time.Second, "b9 down and its reservation released", func() bool {
		b, ok := leader.fsm.Backend("b9")
		_, reserved := leader.fsm.Mailbox("shared/poisoned")
		return ok && b.State == fsm.BackendDown && !reserved
	})
	if _, ok := leader.fsm.Mailbox("shared/kept"); !ok {
		t.Fatal("another backend's reservation was released")
	}
	// No poisoned name: it can be created again.
	mustApply(t, c.follower(), reserve("shared/poisoned", "b1", "r2"))

	// The backend returns: it is up again.
	c.restart("be1")
	waitFor(t, 30*time.Second, "b9 up again", func() bool {
		b, ok := c.leader().fsm.Backend("b9")
		return ok && b.State == fsm.BackendUp
	})
}

func TestExpiredReservationsReleased(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.leader()
	registerBackend(t, leader, "b1")
	old := reserve("shared/old", "b1", "r")
	old.At = time.Now().Add(-time.Hour).UnixNano()
	// Straight into the log: Apply would time it by the leader's clock
	// (stamp.go), and this reservation must be an hour old.
	data, err := fsm.Encode(old)
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.raft.Apply(data, 5*time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	mustApply(t, leader, reserve("shared/new", "b1", "r"))
	waitFor(t, 20*time.Second, "old reservation released", func() bool {
		_, ok := leader.fsm.Mailbox("shared/old")
		return !ok
	})
	if _, ok := leader.fsm.Mailbox("shared/new"); !ok {
		t.Fatal("a fresh reservation was released")
	}
}

func TestLeaveRemovesFromConfiguration(t *testing.T) {
	c := startCluster(t, 3, "f1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.nodes["f1"].Leave(ctx); err != nil {
		t.Fatal(err)
	}
	c.close("f1")
	waitFor(t, 20*time.Second, "f1 removed", func() bool {
		f := c.leader().raft.GetConfiguration()
		if f.Error() != nil {
			return false
		}
		for _, s := range f.Configuration().Servers {
			if s.ID == "f1" {
				return false
			}
		}
		return true
	})
}

func TestWriteInFlightOnLeaderThatLosesQuorum(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.leader()
	registerBackend(t, leader, "b1")
	for _, n := range c.open() {
		if n != leader {
			c.close(n.ID())
		}
	}
	// The leader may still believe it leads: the entry is appended but can
	// never commit, and the write must fail, not hang.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := leader.Apply(ctx, reserve("shared/lost", "b1", "r"))
	if !errors.Is(err, ErrNoQuorum) && !errors.Is(err, ErrNoLeader) {
		t.Fatalf("write on a leader without quorum: %v, want ErrNoQuorum or ErrNoLeader", err)
	}
	t.Logf("failed with: %v", err)
	if _, ok := leader.fsm.Mailbox("shared/lost"); ok {
		t.Fatal("uncommitted write is visible")
	}
}
