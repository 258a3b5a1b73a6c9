package directory

import (
	"context"
	"errors"
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
