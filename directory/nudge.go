package directory

import (
	"time"

	"github.com/hashicorp/raft"
)

// A follower learns that an entry is committed from the leader's next
// append. When writes stop flowing, raft sends that append only after
// CommitTimeout (50 to 100 ms), so each write that a follower waits to
// see (a CREATE's reservation, then its activation, then the frontend's
// read of it) would wait that long. After each write it applies, the
// leader appends one barrier instead: its append goes out at once and
// carries the commit index, so every follower learns of the write within
// a round trip and a disk write. Writes that come while a barrier is in
// flight share the next one, so a busy leader adds at most one entry per
// barrier's round, and a barrier waits for nothing but its own commit.

// nudgeTimeout bounds one barrier; a leader that cannot commit it within
// this long has lost its quorum, and the next write tries again.
const nudgeTimeout = 5 * time.Second

// nudge asks the nudge loop for a barrier soon. It never blocks.
func (n *Node) nudge() {
	select {
	case n.nudges <- struct{}{}:
	default: // one is already asked for; it will cover this write
	}
}

// nudgeLoop appends a barrier for each nudge while this node leads.
func (n *Node) nudgeLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.closed:
			return
		case <-n.nudges:
		}
		if n.raft.State() != raft.Leader {
			continue
		}
		// Not awaitFuture, which Close waits for: a barrier that raft took
		// just before it shut down may never be answered (raft sets no
		// shutdown channel on it), so only this wait ends with the node,
		// and the goroutine that asks for its answer may outlive it.
		f := n.raft.Barrier(nudgeTimeout)
		done := make(chan error, 1)
		go func() { done <- f.Error() }()
		select {
		case err := <-done:
			if err != nil {
				n.log.Debug("commit-index nudge failed", "error", err)
			}
		case <-n.closed:
			return
		}
	}
}
