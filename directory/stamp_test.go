package directory

import (
	"testing"
	"time"
)

// A reservation proposed by a node whose clock is two minutes behind is
// recorded at the leader's time, so the leader's expiry (which compares
// with its own clock) does not release it early.
func TestReservationTimedByLeader(t *testing.T) {
	c := startCluster(t, 3)
	follower := c.follower()
	registerBackend(t, follower, "b1")
	before := time.Now()
	r := reserve("shared/late", "b1", "r1")
	r.At = before.Add(-2 * time.Minute).UnixNano()
	res := mustApply(t, follower, r)
	if got := time.Unix(0, res.Mailbox.ReservedAt); got.Before(before) {
		t.Fatalf("reserved at %v, the proposer's clock; want the leader's, at or after %v", got, before)
	}
}
