package directory

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rookery-mail/rookery/fsm"
)

// Retry pacing while there is no leader or it is changing.
const (
	retryMin = 10 * time.Millisecond
	retryMax = 250 * time.Millisecond
)

// Apply commits cmd to the directory from any node and returns its result,
// with Result.Index the log index it was applied at. The leader applies it;
// any other node forwards it to the leader over the cluster API, retrying
// while there is no leader or leadership moves, until ctx is done. A broken
// rule comes back in Result.Err as the fsm sentinel (errors.Is works); err
// is for the node's own failures: ErrNoLeader, ErrNoQuorum, ErrClosed.
func (n *Node) Apply(ctx context.Context, cmd fsm.Command) (fsm.Result, error) {
	data, err := fsm.Encode(cmd)
	if err != nil {
		return fsm.Result{}, fmt.Errorf("%w: encode command: %w", ErrBadRequest, err)
	}
	res, err := n.applyEncoded(ctx, data)
	if o := n.cfg.Observer; o != nil {
		o.DirectoryApply(commandName(cmd), outcome(err, res.Err))
	}
	return res, err
}

// commandName is the command's type name ("Reserve"): a small fixed set.
func commandName(cmd fsm.Command) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", cmd), "fsm.")
}

// outcome is an operation's result label for the Observer.
func outcome(err, ruleErr error) string {
	switch {
	case err != nil:
		return "error"
	case ruleErr != nil:
		return "rejected"
	}
	return "ok"
}

// applyEncoded is Apply for a command already encoded.
func (n *Node) applyEncoded(ctx context.Context, data []byte) (fsm.Result, error) {
	var res fsm.Result
	err := n.retry(ctx, func() error {
		id, api := n.Leader()
		var err error
		switch {
		case id == n.cfg.NodeID:
			res, err = n.applyLeader(ctx, data)
		case api == "":
			err = ErrNoLeader
		default:
			res, err = n.forwardApply(ctx, api, data)
		}
		return err
	})
	return res, err
}

// retry runs op until it succeeds, fails for good, or ctx is done. Only
// failures that happened before the leader could have appended anything
// (ErrNoLeader, ErrNotLeader) are retried, so nothing is applied twice.
func (n *Node) retry(ctx context.Context, op func() error) error {
	wait := retryMin
	for {
		if n.isClosed() {
			return ErrClosed
		}
		err := op()
		if err == nil || !(errors.Is(err, ErrNoLeader) || errors.Is(err, ErrNotLeader)) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %w (last: %v)", ErrNoLeader, ctx.Err(), err)
		case <-n.closed:
			t.Stop()
			return ErrClosed
		case <-t.C:
		}
		wait = min(2*wait, retryMax)
	}
}

// applyLocal applies cmd on this node, which must be the leader. The
// reconcile loop proposes its commands this way.
func (n *Node) applyLocal(ctx context.Context, cmd fsm.Command) (fsm.Result, error) {
	data, err := fsm.Encode(cmd)
	if err != nil {
		return fsm.Result{}, fmt.Errorf("%w: encode command: %w", ErrBadRequest, err)
	}
	return n.applyLeader(ctx, data)
}

// applyLeader appends data to the log and waits for it to be applied.
func (n *Node) applyLeader(ctx context.Context, data []byte) (fsm.Result, error) {
	if n.raft.State() != raft.Leader {
		return fsm.Result{}, ErrNotLeader
	}
	var enqueue time.Duration // how long raft may wait to accept it; 0: forever
	if d, ok := ctx.Deadline(); ok {
		enqueue = max(time.Until(d), time.Millisecond)
	}
	f := n.raft.Apply(leaderStamped(data, time.Now()), enqueue)
	if err := n.awaitFuture(ctx, f); err != nil {
		return fsm.Result{}, applyError(err)
	}
	n.nudge()
	switch r := f.Response().(type) {
	case fsm.Result:
		if r.Index == 0 {
			r.Index = f.Index()
		}
		return r, nil
	case error:
		return fsm.Result{}, fmt.Errorf("directory: apply: %w", r)
	default:
		return fsm.Result{}, fmt.Errorf("directory: apply: unexpected fsm response %T", r)
	}
}

// applyError maps raft's failure of an Apply to the directory's sentinels.
func applyError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %w", ErrNotLeader, err) // never appended: safe to retry
	case errors.Is(err, raft.ErrRaftShutdown), errors.Is(err, ErrClosed):
		return ErrClosed
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrEnqueueTimeout),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: %w", ErrNoQuorum, err)
	}
	return fmt.Errorf("directory: apply: %w", err)
}

// forwardApply sends data to the leader's cluster API. A refused connection
// means the leader is gone before anything was sent (retry); a failure after
// sending leaves the outcome unknown (ErrNoQuorum).
func (n *Node) forwardApply(ctx context.Context, apiAddr string, data []byte) (fsm.Result, error) {
	c := &Client{addr: apiAddr, secret: n.cfg.ClusterSecret, api: n.peers}
	start := time.Now()
	res, err := c.apply(ctx, data, true)
	if o := n.cfg.Observer; o != nil {
		o.ForwardedWrite(outcome(err, res.Err), time.Since(start))
	}
	if err == nil {
		return res, nil
	}
	var opErr *net.OpError
	switch {
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return fsm.Result{}, fmt.Errorf("%w: leader unreachable: %w", ErrNoLeader, err)
	case errors.Is(err, ErrNotLeader), errors.Is(err, ErrNoLeader), errors.Is(err, ErrNoQuorum):
		return fsm.Result{}, err
	case errors.Is(err, ErrClosed):
		// The leader was closing: it may or may not have appended the entry.
		return fsm.Result{}, fmt.Errorf("%w: leader closed: %w", ErrNoQuorum, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fsm.Result{}, fmt.Errorf("%w: %w", ErrNoQuorum, err)
	}
	return fsm.Result{}, err
}
