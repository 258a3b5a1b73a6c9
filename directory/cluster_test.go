package directory

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/freeport"
)

const testSecret = "test-cluster-secret"

// testLogger discards logs unless ROOKERY_TEST_LOG is set, because raft and
// memberlist keep logging for a moment after a test has ended.
func testLogger() *slog.Logger {
	if os.Getenv("ROOKERY_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testConfig is a node on loopback with fast timings and its own data dir.
func testConfig(t testing.TB, id string, roles ...string) Config {
	c := Default()
	c.NodeID = id
	c.DataDir = t.TempDir()
	c.Roles = roles
	// A restarted node binds its Raft address again: a port from below
	// the ephemeral range, which no outgoing connection can hold then.
	raft, err := freeport.Pick("127.0.0.1", false)
	if err != nil {
		t.Fatal(err)
	}
	c.RaftAddr = raft
	c.APIAddr = "127.0.0.1:0"
	c.GossipAddr = "127.0.0.1:0"
	c.ClusterSecret = testSecret
	c.HeartbeatTimeout = 300 * time.Millisecond
	c.ElectionTimeout = 300 * time.Millisecond
	c.LeaderLeaseTimeout = 150 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.ReconcileInterval = 200 * time.Millisecond
	c.GossipProfile = "local"
	c.Logger = testLogger()
	return c
}

// testCluster is a set of in-process nodes.
type testCluster struct {
	t     testing.TB
	nodes map[string]*Node
	cfgs  map[string]Config
	order []string
}

// startCluster starts voters directory nodes (v1..) that bootstrap
// themselves, and one frontend non-voter per name in nonVoters, and waits
// until every node is in the Raft configuration and has a leader.
func startCluster(t testing.TB, voters int, nonVoters ...string) *testCluster {
	t.Helper()
	c := &testCluster{t: t, nodes: map[string]*Node{}, cfgs: map[string]Config{}}
	t.Cleanup(c.closeAll)
	for i := 1; i <= voters; i++ {
		cfg := testConfig(t, fmt.Sprintf("v%d", i), RoleDirectory)
		cfg.BootstrapExpect = voters
		c.start(cfg)
	}
	for _, id := range nonVoters {
		c.start(testConfig(t, id, RoleFrontend))
	}
	c.waitMembers(c.order...)
	return c
}

// start opens a node from cfg, joining the cluster's first node.
func (c *testCluster) start(cfg Config) *Node {
	c.t.Helper()
	// Joining every open node, not just one, as operators list several:
	// one missed probe then cannot leave the newcomer knowing nobody.
	cfg.Join = nil
	for _, n := range c.open() {
		cfg.Join = append(cfg.Join, n.GossipAddr())
	}
	n, err := Open(cfg)
	if err != nil {
		c.t.Fatalf("open %s: %v", cfg.NodeID, err)
	}
	if _, ok := c.cfgs[cfg.NodeID]; !ok {
		c.order = append(c.order, cfg.NodeID)
	}
	c.nodes[cfg.NodeID] = n
	c.cfgs[cfg.NodeID] = cfg
	return n
}

// restart reopens a closed node from its data dir and Raft address.
func (c *testCluster) restart(id string) *Node {
	c.t.Helper()
	cfg := c.cfgs[id]
	cfg.RaftAddr = c.nodes[id].RaftAddr()
	return c.start(cfg)
}

func (c *testCluster) closeAll() {
	for _, n := range c.nodes {
		if err := n.Close(); err != nil {
			c.t.Errorf("close %s: %v", n.ID(), err)
		}
	}
}

func (c *testCluster) close(id string) {
	c.t.Helper()
	if err := c.nodes[id].Close(); err != nil {
		c.t.Fatalf("close %s: %v", id, err)
	}
}

// open lists the nodes not closed.
func (c *testCluster) open() []*Node {
	var out []*Node
	for _, id := range c.order {
		if n := c.nodes[id]; !n.isClosed() {
			out = append(out, n)
		}
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// leader waits until one open node leads and every open node knows it.
func (c *testCluster) leader() *Node {
	c.t.Helper()
	var leader *Node
	waitFor(c.t, 30*time.Second, "a leader known to all", func() bool {
		leader = nil
		for _, n := range c.open() {
			if n.IsLeader() && n.leaderReady.Load() == n.raft.CurrentTerm() {
				leader = n
			}
		}
		if leader == nil {
			return false
		}
		for _, n := range c.open() {
			if id, api := n.Leader(); id != leader.ID() || api == "" {
				return false
			}
		}
		return true
	})
	return leader
}

// follower returns an open voter that does not lead.
func (c *testCluster) follower() *Node {
	c.t.Helper()
	leader := c.leader()
	for _, n := range c.open() {
		if n != leader && n.cfg.Voter() {
			return n
		}
	}
	c.t.Fatal("no follower")
	return nil
}

// waitMembers waits until the leader's configuration holds ids, each as a
// voter exactly when it has the directory role.
func (c *testCluster) waitMembers(ids ...string) {
	c.t.Helper()
	waitFor(c.t, 30*time.Second, fmt.Sprintf("raft configuration %v", ids), func() bool {
		var leader *Node
		for _, n := range c.open() {
			if n.IsLeader() {
				leader = n
			}
		}
		if leader == nil {
			return false
		}
		f := leader.raft.GetConfiguration()
		if f.Error() != nil {
			return false
		}
		servers := map[string]raft.Server{}
		for _, s := range f.Configuration().Servers {
			servers[string(s.ID)] = s
		}
		for _, id := range ids {
			s, ok := servers[id]
			if !ok || (s.Suffrage == raft.Voter) != c.cfgs[id].Voter() {
				return false
			}
		}
		return true
	})
	c.leader()
}

// waitConverged waits until every open node has applied index and then
// checks that all digests are equal.
func (c *testCluster) waitConverged(index uint64) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var want [32]byte
	for i, n := range c.open() {
		if err := n.WaitApplied(ctx, index); err != nil {
			c.t.Fatalf("%s waiting for index %d (at %d): %v", n.ID(), index, n.fsm.AppliedIndex(), err)
		}
		d := n.fsm.Digest()
		if i == 0 {
			want = d
		} else if d != want {
			c.t.Fatalf("%s digest %x differs from %s's %x", n.ID(), d, c.open()[0].ID(), want)
		}
	}
}

// mustApply applies cmd through n and fails the test on any error,
// including a broken rule.
func mustApply(t testing.TB, n *Node, cmd fsm.Command) fsm.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := n.Apply(ctx, cmd)
	if err != nil {
		t.Fatalf("apply %T through %s: %v", cmd, n.ID(), err)
	}
	if res.Err != nil {
		t.Fatalf("apply %T through %s: result %v", cmd, n.ID(), res.Err)
	}
	if res.Index == 0 {
		t.Fatalf("apply %T through %s: no index", cmd, n.ID())
	}
	return res
}

func registerBackend(t testing.TB, n *Node, id string) fsm.Result {
	return mustApply(t, n, fsm.BackendRegister{ID: id, IMAPAddr: "127.0.0.1:1143", LMTPAddr: "127.0.0.1:1024",
		Weight: 1, At: time.Now().UnixNano()})
}

func reserve(name, backend, reservation string) fsm.Reserve {
	return fsm.Reserve{Name: name, Backend: backend, Reservation: reservation, At: time.Now().UnixNano()}
}
