package directory

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
)

// maybeBootstrap bootstraps a fresh cluster once BootstrapExpect directory
// nodes have met. Every one of them does so with the same configuration
// (all of them, sorted by id), so the first log entry is the same on each;
// as in consul, this is safe because no node with Raft state takes part.
func (n *Node) maybeBootstrap(ctx context.Context) {
	if n.cfg.BootstrapExpect == 0 || !n.cfg.Voter() || n.bootstrapped.Load() {
		return
	}
	voters := n.aliveVoters()
	if len(voters) < n.cfg.BootstrapExpect {
		return
	}
	switch err := n.bootstrap(voters); {
	case err == nil:
		n.log.Info("cluster bootstrapped", "voters", len(voters))
	case errors.Is(err, ErrBootstrapped):
	default:
		n.log.Warn("bootstrap failed", "error", err)
	}
}

// Bootstrap bootstraps a fresh cluster by hand with the directory nodes
// alive in gossip now. It fails with ErrBootstrapped if this node already
// has Raft state, and with ErrNotVoter on a node without the directory role.
func (n *Node) Bootstrap(ctx context.Context) error {
	if !n.cfg.Voter() {
		return ErrNotVoter
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return n.bootstrap(n.aliveVoters())
}

func (n *Node) aliveVoters() []member {
	var out []member
	for _, m := range n.members.all() {
		if m.state == memberAlive && m.meta.voter() {
			out = append(out, m)
		}
	}
	return out
}

// bootstrap writes the first configuration, unless Raft state exists.
func (n *Node) bootstrap(voters []member) error {
	n.bootstrapMu.Lock()
	defer n.bootstrapMu.Unlock()
	has, err := raft.HasExistingState(n.store, n.store, n.snaps)
	if err != nil {
		return fmt.Errorf("directory: bootstrap: %w", err)
	}
	if has {
		n.bootstrapped.Store(true)
		return ErrBootstrapped
	}
	var cfg raft.Configuration
	self := false
	for _, m := range voters { // sorted by id
		self = self || m.id == n.cfg.NodeID
		cfg.Servers = append(cfg.Servers, raft.Server{
			Suffrage: raft.Voter,
			ID:       raft.ServerID(m.id),
			Address:  raft.ServerAddress(m.meta.RaftAddr),
		})
	}
	if !self {
		return fmt.Errorf("%w: this node is not among the alive voters", ErrNotVoter)
	}
	if err := n.raft.BootstrapCluster(cfg).Error(); err != nil {
		if errors.Is(err, raft.ErrCantBootstrap) {
			n.bootstrapped.Store(true)
			return ErrBootstrapped
		}
		return fmt.Errorf("directory: bootstrap: %w", err)
	}
	n.bootstrapped.Store(true)
	return nil
}

// RemoveNode removes a node from the Raft configuration, for a node that
// failed and will not return. Any node may be asked; the leader does it.
func (n *Node) RemoveNode(ctx context.Context, id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty node id", ErrBadRequest)
	}
	return n.retry(ctx, func() error {
		leader, api := n.Leader()
		switch {
		case leader == n.cfg.NodeID:
			return n.removeServer(ctx, id)
		case api == "":
			return ErrNoLeader
		}
		c := &Client{addr: api, secret: n.cfg.ClusterSecret, api: n.peers}
		return c.removeNode(ctx, id, true)
	})
}

// removeServer removes id from the configuration on the leader.
func (n *Node) removeServer(ctx context.Context, id string) error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	f := n.raft.RemoveServer(raft.ServerID(id), 0, 0)
	if err := n.awaitFuture(ctx, f); err != nil {
		return applyError(err)
	}
	n.log.Info("node removed from raft configuration", "member", id, "raft_index", f.Index())
	return nil
}
