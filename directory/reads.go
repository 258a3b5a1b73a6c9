package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rookery-mail/rookery/fsm"
)

// Directory is what every role needs of its node's directory: reads at a
// consistency level, writes, and waiting for a write to reach the local
// copy. *Node is one; a test may give a role a fake over an fsm.FSM.
type Directory interface {
	// Read returns a view of the local copy pinned at one applied index,
	// once the copy is as current as level asks.
	Read(ctx context.Context, level Level) (*fsm.View, error)
	// Apply proposes cmd from any node; Result.Index is the log index it
	// was applied at.
	Apply(ctx context.Context, cmd fsm.Command) (fsm.Result, error)
	// WaitApplied returns once the local copy has applied index.
	WaitApplied(ctx context.Context, index uint64) error
}

var _ Directory = (*Node)(nil)

// Level is how current a read must be, as rqlite's consistency levels:
// each is a parameter of the one Read call, never a sequence its callers
// repeat.
type Level uint8

const (
	// Local reads the local copy as it is: no network, stale by the
	// replication lag, and unbounded when this node is cut off.
	Local Level = iota
	// Fresh reads the local copy when this node leads or heard from the
	// leader within StaleAfter, and otherwise after a Synced read; it fails
	// with ErrStale when that fails. It bounds staleness at the cost of a
	// network round trip only when the bound is at risk.
	Fresh
	// Synced reads after a ReadIndex: the view holds every write committed
	// before the call, on any node (linearizable).
	Synced
)

func (l Level) String() string {
	switch l {
	case Local:
		return "local"
	case Fresh:
		return "fresh"
	case Synced:
		return "synced"
	}
	return fmt.Sprintf("level(%d)", uint8(l))
}

// Read returns a view of the local copy pinned at one applied index, once
// the copy is as current as level asks. A Local read never fails.
func (n *Node) Read(ctx context.Context, level Level) (*fsm.View, error) {
	var err error
	switch level {
	case Local:
	case Fresh:
		err = n.freshRead(ctx)
	case Synced:
		err = n.syncedRead(ctx)
	default:
		err = fmt.Errorf("%w: %s", ErrInvalidLevel, level)
	}
	if err != nil {
		return nil, err
	}
	return n.fsm.View(), nil
}

// Find looks in dir at level with find, and when find says what it looks
// for is not there and level is below Synced, reads again synced and
// looks once more: a name or user unknown to a local copy may have been
// created a moment ago through another node. It returns what find
// returned last and the view it looked in; ErrNotFound with them when find
// did not find it even then. A read that fails returns its error and no
// view.
func Find[T any](ctx context.Context, dir Directory, level Level, find func(*fsm.View) (T, bool)) (T, *fsm.View, error) {
	var zero T
	v, err := dir.Read(ctx, level)
	if err != nil {
		return zero, nil, err
	}
	t, ok := find(v)
	if ok {
		return t, v, nil
	}
	if level < Synced {
		if v, err = dir.Read(ctx, Synced); err != nil {
			return zero, nil, err
		}
		if t, ok = find(v); ok {
			return t, v, nil
		}
	}
	return t, v, ErrNotFound
}

// WaitApplied waits until the local FSM has applied index (a write's
// Result.Index): read-your-writes on this node.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	return n.fsm.WaitApplied(ctx, index)
}

// syncedRead waits until the local FSM holds every write committed before
// the call (ReadIndex): the leader confirms it still leads and reports its
// commit index, and this node waits to apply up to it. Reads of the local
// FSM after it returns are linearizable. The synced reads in flight on a
// node share one ReadIndex (readround.go).
func (n *Node) syncedRead(ctx context.Context) (err error) {
	if o := n.cfg.Observer; o != nil {
		start := time.Now()
		defer func() { o.SyncedRead(outcome(err, nil), time.Since(start)) }()
	}
	var index uint64
	err = n.retry(ctx, func() error {
		var err error
		index, err = n.sharedReadIndex(ctx)
		return err
	})
	if err != nil {
		return err
	}
	return n.fsm.WaitApplied(ctx, index)
}

// readIndex is the leader's half of a synced read: the commit index, once
// a round of heartbeats has confirmed this node still leads.
func (n *Node) readIndex(ctx context.Context) (uint64, error) {
	if n.raft.State() != raft.Leader {
		return 0, ErrNotLeader
	}
	// Until the barrier of this term is applied, the commit index may not yet
	// cover entries of earlier terms.
	if n.leaderReady.Load() != n.raft.CurrentTerm() {
		return 0, fmt.Errorf("%w: leadership not yet established", ErrNotLeader)
	}
	if err := n.awaitFuture(ctx, n.raft.VerifyLeader()); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return 0, fmt.Errorf("%w: %w", ErrNotLeader, err)
		}
		return 0, applyError(err)
	}
	return n.lastCommandAtOrBelow(n.raft.CommitIndex()), nil
}

// lastCommandAtOrBelow returns the index of the last command entry at or
// below commit. The FSM counts only command entries in its AppliedIndex;
// raft's own entries (the leader's no-op, barriers, configuration changes)
// never reach it, so waiting for an index that names one would never end.
// Entries at or below the leader's own applied index need no look: the FSM
// holds them all. A missing entry was compacted into a snapshot, which the
// FSM has also applied.
func (n *Node) lastCommandAtOrBelow(commit uint64) uint64 {
	applied := n.fsm.AppliedIndex()
	for i := commit; i > applied; i-- {
		var l raft.Log
		if err := n.store.GetLog(i, &l); err == nil && l.Type == raft.LogCommand {
			return i
		}
	}
	return min(applied, commit)
}

// freshRead returns at once when the local FSM is fresh enough to read:
// this node leads, or heard from the leader within StaleAfter. Otherwise it
// does a synced read, and fails with ErrStale when that fails.
func (n *Node) freshRead(ctx context.Context) error {
	if n.IsLeader() {
		return nil
	}
	if n.heardFromLeader(n.cfg.StaleAfter) {
		return nil
	}
	if err := n.syncedRead(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrStale, err)
	}
	return nil
}

// Status is one node's view of itself and the Raft group.
type Status struct {
	NodeID       string    `json:"node_id"`
	Roles        []string  `json:"roles"`
	RaftAddr     string    `json:"raft_addr"`
	APIAddr      string    `json:"api_addr"`
	RaftState    string    `json:"raft_state"`
	Term         uint64    `json:"term"`
	LeaderID     string    `json:"leader_id"`
	CommitIndex  uint64    `json:"commit_index"`
	AppliedIndex uint64    `json:"applied_index"` // by the local FSM
	LastLogIndex uint64    `json:"last_log_index"`
	LastContact  time.Time `json:"last_contact,omitzero"` // with the leader; zero on the leader
	Voter        bool      `json:"voter"`                 // a voter in the Raft configuration
	NumPeers     int       `json:"num_peers"`             // other servers in the configuration
	Voters       int       `json:"voters"`                // voters in the configuration, this node included
}

// Status reports this node's state.
func (n *Node) Status() Status {
	leader, _ := n.Leader()
	s := Status{
		NodeID:       n.cfg.NodeID,
		Roles:        slices.Clone(n.cfg.Roles),
		RaftAddr:     n.raftAddr,
		APIAddr:      n.APIAddr(),
		RaftState:    n.raft.State().String(),
		Term:         n.raft.CurrentTerm(),
		LeaderID:     leader,
		CommitIndex:  n.raft.CommitIndex(),
		AppliedIndex: n.fsm.AppliedIndex(),
		LastLogIndex: n.raft.LastIndex(),
	}
	// Raft's last contact means something only on a follower: on the leader
	// it is left over from before the election.
	if n.raft.State() != raft.Leader {
		s.LastContact = n.raft.LastContact()
	}
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			if srv.Suffrage == raft.Voter {
				s.Voters++
			}
			if string(srv.ID) == n.cfg.NodeID {
				s.Voter = srv.Suffrage == raft.Voter
			} else {
				s.NumPeers++
			}
		}
	}
	return s
}

// MemberStatus is one alive member's Status, or why it could not be had.
type MemberStatus struct {
	Status
	Error string `json:"error,omitempty"`
	// DownSince is when gossip found the member failed; zero for a member
	// gossip has alive. A failed member is listed with Error set, so that
	// a dead node shows as down rather than vanishing.
	DownSince time.Time `json:"down_since,omitzero"`
}

// ClusterStatus asks every alive member for its Status, in parallel, and
// lists each failed one (not one that left) as down.
func (n *Node) ClusterStatus(ctx context.Context) []MemberStatus {
	var alive []member
	var down []MemberStatus
	for _, m := range n.members.all() {
		switch m.state {
		case memberAlive:
			alive = append(alive, m)
		case memberFailed:
			down = append(down, MemberStatus{Status: Status{NodeID: m.id, Roles: m.meta.Roles,
				RaftAddr: m.meta.RaftAddr, APIAddr: m.meta.APIAddr}, Error: "down", DownSince: m.since})
		}
	}
	out := make([]MemberStatus, len(alive))
	var wg sync.WaitGroup
	for i, m := range alive {
		if m.id == n.cfg.NodeID {
			out[i] = MemberStatus{Status: n.Status()}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &Client{addr: m.meta.APIAddr, secret: n.cfg.ClusterSecret, api: n.peers}
			st, err := c.Status(ctx)
			if err != nil {
				out[i] = MemberStatus{Status: Status{NodeID: m.id, Roles: m.meta.Roles,
					RaftAddr: m.meta.RaftAddr, APIAddr: m.meta.APIAddr}, Error: err.Error()}
				return
			}
			out[i] = MemberStatus{Status: st}
		}()
	}
	wg.Wait()
	return append(out, down...)
}
