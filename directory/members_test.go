package directory

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestJoinMembers: a node started with nothing to join stays alone until
// an operator asks a cluster node to join it; then the leader adds it to
// the Raft configuration.
func TestJoinMembers(t *testing.T) {
	c := startCluster(t, 3)
	cfg := testConfig(t, "lonely", RoleFrontend)
	cfg.Join = nil
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[cfg.NodeID], c.cfgs[cfg.NodeID] = n, cfg
	c.order = append(c.order, cfg.NodeID)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := NewClient(c.nodes["v2"].APIAddr(), testSecret)
	if _, err := cl.JoinMembers(ctx, nil); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("join of nothing: %v, want ErrBadRequest", err)
	}
	joined, err := cl.JoinMembers(ctx, []string{n.GossipAddr()})
	if err != nil || joined != 1 {
		t.Fatalf("join: %d, %v", joined, err)
	}
	c.waitMembers("v1", "v2", "v3", "lonely")
}

// TestJoinThroughOneSeedReachesTheLeader: a node that joins through one
// follower alone is in the leader's Raft configuration within seconds, not
// at the next full gossip exchange (15 s and more in this profile): it
// introduces itself to every member its seed told it of.
func TestJoinThroughOneSeedReachesTheLeader(t *testing.T) {
	c := startCluster(t, 3)
	for i := range 3 {
		seed := c.follower()
		cfg := testConfig(t, fmt.Sprintf("late%d", i), RoleFrontend)
		cfg.Join = []string{seed.GossipAddr()}
		n, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes[cfg.NodeID], c.cfgs[cfg.NodeID] = n, cfg
		c.order = append(c.order, cfg.NodeID)
		leader := c.leader()
		waitFor(t, 5*time.Second, cfg.NodeID+" in the leader's Raft configuration", func() bool {
			f := leader.raft.GetConfiguration()
			if f.Error() != nil {
				return false
			}
			for _, s := range f.Configuration().Servers {
				if string(s.ID) == cfg.NodeID {
					return true
				}
			}
			return false
		})
	}
}
