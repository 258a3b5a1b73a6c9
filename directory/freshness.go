package directory

import (
	"time"

	"github.com/hashicorp/raft"
)

// Raft's LastContact is not only the last time this node heard from a
// leader: raft also sets it when the node grants a vote and when it steps
// down as leader. A follower cut off for a minute that grants a vote would
// look fresh and serve a minute-old copy. So a contact counts only if it
// came from the leader this node knows now: after the last change of leader,
// which an observer records as raft makes it.

// watchLeaderChanges records the time of every change of leader (including
// to none). The filter runs in raft's own goroutine as it changes leader;
// it queues nothing.
func (n *Node) watchLeaderChanges() {
	n.raft.RegisterObserver(raft.NewObserver(nil, false, func(o *raft.Observation) bool {
		if _, ok := o.Data.(raft.LeaderObservation); ok {
			n.leaderChanged.Store(time.Now().UnixNano())
		}
		return false
	}))
}

// heardFromLeader reports whether this node, a follower of a known leader,
// has had a successful exchange with that leader within d.
func (n *Node) heardFromLeader(d time.Duration) bool {
	if _, id := n.raft.LeaderWithID(); id == "" {
		return false
	}
	lc := n.raft.LastContact()
	if lc.IsZero() || lc.UnixNano() <= n.leaderChanged.Load() {
		return false
	}
	return time.Since(lc) <= d
}
