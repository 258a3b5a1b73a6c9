package directory

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// TestHintsReachEveryNode: a hint one node gossips reaches the handler of
// its kind on every other node, once per node or more (gossip may repeat
// it), and a hint of a kind with no handler is dropped.
func TestHintsReachEveryNode(t *testing.T) {
	c := &testCluster{t: t, nodes: map[string]*Node{}, cfgs: map[string]Config{}}
	t.Cleanup(c.closeAll)
	var mu sync.Mutex
	got := map[string][][]byte{}
	for i, id := range []string{"v1", "f1", "f2"} {
		roles := []string{RoleFrontend}
		if i == 0 {
			roles = []string{RoleDirectory}
		}
		cfg := testConfig(t, id, roles...)
		cfg.BootstrapExpect = 1
		cfg.OnHint(HintLoginPenalty, func(b []byte) {
			mu.Lock()
			got[id] = append(got[id], b)
			mu.Unlock()
		})
		c.start(cfg)
	}
	c.waitMembers(c.order...)
	c.nodes["f1"].Hint('z', []byte("no handler"))
	c.nodes["f1"].Hint(HintLoginPenalty, []byte("one"))
	waitFor(t, 20*time.Second, "the hint on v1 and f2", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got["v1"]) > 0 && len(got["f2"]) > 0
	})
	mu.Lock()
	defer mu.Unlock()
	for id, msgs := range got {
		for _, m := range msgs {
			if !bytes.Equal(m, []byte("one")) {
				t.Errorf("%s got hint %q", id, m)
			}
		}
	}
}
