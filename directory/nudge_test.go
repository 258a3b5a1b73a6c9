package directory

import (
	"fmt"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/fsm"
)

// TestFollowersLearnCommitsAtOnce: with raft's idle append pushed out to
// ten minutes, the followers still apply a write the leader committed,
// because the leader's barrier after it carries the commit index. Without
// it they would learn of the write only at the next write.
func TestFollowersLearnCommitsAtOnce(t *testing.T) {
	c := &testCluster{t: t, nodes: map[string]*Node{}, cfgs: map[string]Config{}}
	t.Cleanup(c.closeAll)
	for i := 1; i <= 3; i++ {
		cfg := testConfig(t, fmt.Sprintf("v%d", i), RoleDirectory)
		cfg.BootstrapExpect = 3
		cfg.CommitTimeout = 10 * time.Minute
		c.start(cfg)
	}
	c.waitMembers(c.order...)
	leader := c.leader()
	for _, user := range []string{"alice", "bob"} {
		res := mustApply(t, leader, fsm.UserAdd{Name: user, PasswordHash: "$2a$10$x", At: time.Now().UnixNano()})
		for _, n := range c.nodes {
			waitFor(t, 30*time.Second, fmt.Sprintf("%s to apply index %d", n.ID(), res.Index), func() bool {
				return n.fsm.AppliedIndex() >= res.Index
			})
		}
	}
}
