package nemesis

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// sees is the set of nodes a node hears from, itself included.
func sees(g Grudge, n, node int) []int {
	var out []int
	for from := range n {
		if g.Hears(node, from) {
			out = append(out, from)
		}
	}
	return out
}

func symmetric(t *testing.T, g Grudge, n int) {
	t.Helper()
	for a := range n {
		for b := range n {
			if g.Hears(a, b) != g.Hears(b, a) {
				t.Fatalf("%d hears %d: %v, but the reverse: %v (grudge %v)", a, b, g.Hears(a, b), g.Hears(b, a), g)
			}
		}
	}
}

func TestMajoritiesRing(t *testing.T) {
	for n := 4; n <= 9; n++ {
		for seed := range uint64(20) {
			g, err := MajoritiesRing(n, rand.New(rand.NewPCG(seed, 1)))
			if err != nil {
				t.Fatal(err)
			}
			symmetric(t, g, n)
			views := make(map[string]bool)
			for node := range n {
				v := sees(g, n, node)
				if len(v) <= n/2 {
					t.Fatalf("n=%d: node %d sees %v, not a majority", n, node, v)
				}
				if len(v) == n {
					t.Fatalf("n=%d: node %d sees everyone", n, node)
				}
				key := fmt.Sprint(v)
				if views[key] {
					t.Fatalf("n=%d: two nodes see %v", n, v)
				}
				views[key] = true
			}
		}
	}
	if _, err := MajoritiesRing(3, rand.New(rand.NewPCG(1, 1))); !errors.Is(err, ErrTooFewNodes) {
		t.Fatalf("3 nodes: %v", err)
	}
}

func TestIsolateAndHalves(t *testing.T) {
	g := Isolate(5, 2)
	symmetric(t, g, 5)
	if v := sees(g, 5, 2); !slices.Equal(v, []int{2}) {
		t.Fatalf("isolated node sees %v", v)
	}
	if v := sees(g, 5, 0); !slices.Equal(v, []int{0, 1, 3, 4}) {
		t.Fatalf("rest sees %v", v)
	}
	for n := 2; n <= 7; n++ {
		g := Halves(n, rand.New(rand.NewPCG(uint64(n), 2)))
		symmetric(t, g, n)
		sizes := map[int]int{}
		for node := range n {
			sizes[len(sees(g, n, node))]++
		}
		minority, majority := n/2, n-n/2
		ok := sizes[minority] == minority && sizes[majority] == majority
		if minority == majority {
			ok = sizes[minority] == n
		}
		if !ok {
			t.Fatalf("n=%d: component sizes %v", n, sizes)
		}
	}
}

func TestBridge(t *testing.T) {
	for n := 3; n <= 7; n++ {
		g, err := Bridge(n, rand.New(rand.NewPCG(uint64(n), 3)))
		if err != nil {
			t.Fatal(err)
		}
		symmetric(t, g, n)
		bridges := 0
		for node := range n {
			v := sees(g, n, node)
			switch {
			case len(v) == n:
				bridges++
			case len(v) > n/2+1:
				t.Fatalf("n=%d: non-bridge node %d sees %v", n, node, v)
			}
		}
		if bridges != 1 {
			t.Fatalf("n=%d: %d nodes see everyone, want 1 bridge (grudge %v)", n, bridges, g)
		}
	}
	if _, err := Bridge(2, rand.New(rand.NewPCG(1, 1))); !errors.Is(err, ErrTooFewNodes) {
		t.Fatalf("2 nodes: %v", err)
	}
}

func TestOneWay(t *testing.T) {
	g := OneWay(3, 1)
	if g.Hears(1, 0) || g.Hears(1, 2) || !g.Hears(0, 1) || !g.Hears(2, 1) || !g.Hears(0, 2) {
		t.Fatalf("one-way grudge %v", g)
	}
	want := []Link{{From: 0, To: 1}, {From: 2, To: 1}}
	if !slices.Equal(g.Links(), want) || !slices.Equal(g.Affected(), []int{0, 1, 2}) {
		t.Fatalf("links %v affected %v", g.Links(), g.Affected())
	}
}

func TestResolveLeader(t *testing.T) {
	f, err := Fault{Kind: PartitionLeader}.Resolve(5, 3)
	if err != nil || !reflect.DeepEqual(f.Grudge, Isolate(5, 3)) {
		t.Fatalf("partition-leader: %v %v", f, err)
	}
	f, err = Fault{Kind: KillLeader}.Resolve(5, 0)
	if err != nil || !slices.Equal(f.Nodes, []int{0}) {
		t.Fatalf("kill-leader: %v %v", f, err)
	}
	if _, err := (Fault{Kind: PauseLeader}).Resolve(5, -1); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("no leader: %v", err)
	}
}

func TestPlanDeterministicAndWellFormed(t *testing.T) {
	kinds, err := ParseKinds("partition-majorities-ring,kill,pause,partition-leader")
	if err != nil {
		t.Fatal(err)
	}
	c := Config{Nodes: 5, Kinds: kinds, Interval: 5 * time.Second, Duration: time.Minute, Seed: 42}
	a, err := Plan(c)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Plan(c)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different schedules")
	}
	c.Seed = 43
	other, _ := Plan(c)
	if reflect.DeepEqual(a, other) {
		t.Fatal("different seeds, same schedule")
	}
	checkSchedule(t, a, c)
}

// checkSchedule: each fault starts once and stops once, later, by the end;
// faults of one family never overlap; every kind appears.
func checkSchedule(t *testing.T, evs []Event, c Config) {
	t.Helper()
	started := map[int]Event{}
	active := map[string]int{}
	kinds := map[Kind]bool{}
	for i, e := range evs {
		if i > 0 && e.At < evs[i-1].At {
			t.Fatalf("event %d out of order", i)
		}
		fam, _ := e.Fault.Kind.family()
		switch e.Action {
		case Start:
			if _, dup := started[e.Fault.ID]; dup {
				t.Fatalf("fault %d started twice", e.Fault.ID)
			}
			started[e.Fault.ID] = e
			active[fam]++
			kinds[e.Fault.Kind] = true
			if active[fam] > 1 {
				t.Fatalf("two %s faults at %v", fam, e.At)
			}
			if !e.Fault.Kind.TargetsLeader() && len(e.Fault.Affected()) == 0 {
				t.Fatalf("fault %d affects no node", e.Fault.ID)
			}
		case Stop:
			s, ok := started[e.Fault.ID]
			if !ok || e.At < s.At || e.At > c.Duration {
				t.Fatalf("fault %d stops at %v (started %v)", e.Fault.ID, e.At, s.At)
			}
			delete(started, e.Fault.ID)
			active[fam]--
		}
	}
	if len(started) != 0 {
		t.Fatalf("faults never stopped: %v", started)
	}
	for _, k := range c.Kinds {
		if !kinds[k] {
			t.Fatalf("kind %s never scheduled", k)
		}
	}
}

func TestPlanRejects(t *testing.T) {
	if _, err := ParseKinds("kill,meteor"); !errors.Is(err, ErrUnknownNemesis) {
		t.Fatalf("unknown kind: %v", err)
	}
	if _, err := Plan(Config{Nodes: 3, Kinds: []Kind{PartitionMajoritiesRing}, Interval: time.Second, Duration: time.Minute}); !errors.Is(err, ErrTooFewNodes) {
		t.Fatalf("ring on 3 nodes: %v", err)
	}
	if _, err := Plan(Config{Nodes: 3, Interval: 0, Duration: time.Minute}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("zero interval: %v", err)
	}
}
