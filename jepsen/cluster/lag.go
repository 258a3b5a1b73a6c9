package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// LagDelay is how long FailoverLagging holds every byte and datagram
// into its node: past a heartbeat, so that the node's directory copy is
// behind the leader's when the failover commits, and short of the
// replicas' 2 s timeout, so that the node's replication still gets its
// answers (refusals, once the failover has reached the replicas) instead
// of dropping the replicas first, which would keep the failover from
// promoting them.
const LagDelay = 500 * time.Millisecond

// failoverBudget bounds FailoverLagging's failover; failoverTry bounds one
// node's attempt at it.
const (
	failoverBudget = 15 * time.Second
	failoverTry    = 8 * time.Second
)

// FailoverLagging slows every link into node i by LagDelay, then fails
// node i's mailboxes over to their replicas with `rookery admin failover`
// through another running node. Node i keeps serving on its stale copy
// for seconds: its frontend routes to its own backend, which still takes
// itself for the primary. Proxy network only.
func (c *Cluster) FailoverLagging(ctx context.Context, i int) error {
	if c.net != nil {
		return fmt.Errorf("%w: failover-lagging needs the proxy network (--net proxy)", ErrUnsupported)
	}
	target := c.Nodes[i].Name
	for j, n := range c.Nodes {
		if j != i {
			c.Faults.Delay(n.Name, target, LagDelay)
		}
	}
	// The schedule waits for this fault to start, and every fault in force
	// lasts as long: a failover that cannot commit (no quorum) is given up
	// within failoverBudget, failoverTry for each node asked.
	ctx, cancel := context.WithTimeout(ctx, failoverBudget)
	defer cancel()
	var errs []error
	for j, n := range c.Nodes {
		if j == i || !n.Running() || n.Paused() {
			continue
		}
		tctx, tcancel := context.WithTimeout(ctx, failoverTry)
		_, err := c.adminAt(tctx, n.Real.API, "", "failover", target)
		tcancel()
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return fmt.Errorf("%w: no other node to fail %s over through", ErrNotRunning, target)
	}
	return errors.Join(errs...)
}

// Unlag takes FailoverLagging's delays into node i away.
func (c *Cluster) Unlag(i int) error {
	if c.net != nil {
		return nil
	}
	for j, n := range c.Nodes {
		if j != i {
			c.Faults.Delay(n.Name, c.Nodes[i].Name, 0)
		}
	}
	return nil
}
