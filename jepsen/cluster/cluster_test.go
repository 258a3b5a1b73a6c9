package cluster

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/jepsen/netproxy"
)

// rookeryBinary builds the rookery binary once for the package's tests.
func rookeryBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts rookery processes; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := Build(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestClusterFaultsAndRecovery starts three nodes behind their proxies,
// isolates the leader, kills and pauses a node, heals, and waits for the
// cluster to converge again.
func TestClusterFaultsAndRecovery(t *testing.T) {
	bin := rookeryBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	c, err := Start(ctx, Config{Nodes: 3, Rookery: bin, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.AddUser(ctx, "alice", "pw-alice"); err != nil {
		t.Fatal(err)
	}
	mbs, err := c.Mailboxes(ctx, c.Nodes[1].Proxy.API, "user/alice/")
	if err != nil || len(mbs) != 1 || mbs[0].State != StateActive {
		t.Fatalf("alice's mailboxes through n2's proxy = %+v, %v; want her INBOX", mbs, err)
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Cut the leader off: the other two must elect one of themselves.
	var cuts []netproxy.Link
	for _, n := range c.Nodes {
		if n.Index != leader {
			cuts = append(cuts, netproxy.Link{From: n.Name, To: c.Nodes[leader].Name}, netproxy.Link{From: c.Nodes[leader].Name, To: n.Name})
		}
	}
	c.Faults.Partition(cuts, netproxy.Blackhole)
	for {
		l, err := c.Leader(ctx)
		if err == nil && l != leader {
			if s, err := c.Status(ctx, l); err == nil && s.LeaderID == c.Nodes[l].Name {
				// A new leader on the majority side, which the old leader, cut off, cannot see.
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("no new leader after isolating %s", c.Nodes[leader].Name)
		}
		time.Sleep(200 * time.Millisecond)
	}
	other := (leader + 1) % 3
	if err := c.Kill(other); err != nil {
		t.Fatal(err)
	}
	if c.Nodes[other].Running() {
		t.Fatalf("%s still running after Kill", c.Nodes[other].Name)
	}
	if err := c.Pause(leader); err != nil {
		t.Fatal(err)
	}
	if err := c.HealAll(); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(ctx, time.Minute)
	defer rcancel()
	if err := c.WaitRecovered(rctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "n1", "node.log")); err != nil {
		t.Errorf("node log: %v", err)
	}
}
