package directory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Synced reads share their ReadIndex. A read that starts while a round (one
// ReadIndex asked of the leader) is in flight waits for it to end and joins
// the next round with every other read that came meanwhile; that round
// starts after each of them did, so the index it gets covers every write
// committed before any of them began, and a burst of LISTs costs one round
// trip to the leader per round instead of one each (etcd's
// linearizableReadLoop does the same).

// readRoundTimeout bounds one round; a read whose own deadline is shorter
// leaves early and the round goes on for the others.
const readRoundTimeout = 10 * time.Second

// readRound is one ReadIndex and the answer its readers share.
type readRound struct {
	done  chan struct{} // closed once index and err are set
	index uint64
	err   error
}

// readRounds is the round that reads waiting now will share, and whether
// a goroutine runs rounds.
type readRounds struct {
	mu      sync.Mutex
	next    *readRound // nil when no read waits
	running bool
	started uint64 // rounds run so far
}

// sharedReadIndex is one attempt at a read index, in the next round. A
// round that fails for want of a leader fails with ErrNoLeader, so that
// syncedRead's retry loop tries again; so does a read whose ctx ends
// before its round does.
func (n *Node) sharedReadIndex(ctx context.Context) (uint64, error) {
	r, err := n.joinReadRound()
	if err != nil {
		return 0, err
	}
	select {
	case <-r.done:
		return r.index, r.err
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: %w", ErrNoLeader, ctx.Err())
	case <-n.closed:
		return 0, ErrClosed
	}
}

// joinReadRound returns the round that has not started yet, starting the
// goroutine that runs rounds when none does. Close waits for it.
func (n *Node) joinReadRound() (*readRound, error) {
	n.closeMu.RLock()
	defer n.closeMu.RUnlock()
	if n.isClosed() {
		return nil, ErrClosed
	}
	rr := &n.rounds
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if rr.next == nil {
		rr.next = &readRound{done: make(chan struct{})}
	}
	if !rr.running {
		rr.running = true
		n.wg.Add(1)
		go n.runReadRounds()
	}
	return rr.next, nil
}

// runReadRounds runs rounds one after another while reads wait for one.
func (n *Node) runReadRounds() {
	defer n.wg.Done()
	rr := &n.rounds
	for {
		rr.mu.Lock()
		r := rr.next
		rr.next = nil
		if r == nil {
			rr.running = false
		} else {
			rr.started++
		}
		rr.mu.Unlock()
		if r == nil {
			return
		}
		ctx, cancel := context.WithTimeout(n.ctx, readRoundTimeout)
		r.index, r.err = n.readIndexOnce(ctx)
		cancel()
		close(r.done)
	}
}

// readIndexOnce asks the leader, this node or another, for its read index
// once.
func (n *Node) readIndexOnce(ctx context.Context) (uint64, error) {
	id, api := n.Leader()
	switch {
	case id == n.cfg.NodeID:
		return n.readIndex(ctx)
	case api == "":
		return 0, ErrNoLeader
	}
	c := &Client{addr: api, secret: n.cfg.ClusterSecret, api: n.peers}
	index, err := c.readIndex(ctx)
	if err != nil && !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrUnauthorized) {
		// Nothing is written by a ReadIndex, so any failure may be retried.
		err = fmt.Errorf("%w: %w", ErrNoLeader, err)
	}
	return index, err
}
