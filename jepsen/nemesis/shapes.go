// Package nemesis decides which faults a run injects and when: partition
// shapes for a cluster of N nodes, process kills and pauses, and a
// deterministic schedule of them from a seed. It starts no processes and
// touches no network; the runner applies what it plans.
package nemesis

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
)

// Grudge says, for each node, the nodes it no longer hears from: traffic
// from each of them to it is cut. A two-way partition is a symmetric grudge.
// Nodes are numbered 0..N-1; NodeName gives the name the history uses.
type Grudge map[int][]int

// Link is one direction of traffic between two nodes.
type Link struct {
	From int `json:"from"`
	To   int `json:"to"`
}

// Links lists the cut directions in a stable order.
func (g Grudge) Links() []Link {
	var out []Link
	for to, froms := range g {
		for _, from := range froms {
			out = append(out, Link{From: from, To: to})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].To != out[j].To {
			return out[i].To < out[j].To
		}
		return out[i].From < out[j].From
	})
	return out
}

// Hears reports whether node to still hears from node from.
func (g Grudge) Hears(to, from int) bool { return !slices.Contains(g[to], from) }

// Affected lists the nodes with at least one cut link, in order.
func (g Grudge) Affected() []int {
	set := make(map[int]bool)
	for _, l := range g.Links() {
		set[l.From], set[l.To] = true, true
	}
	out := make([]int, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

// NodeName is the name of node i in histories and logs: n1, n2, ...
func NodeName(i int) string { return fmt.Sprintf("n%d", i+1) }

// complete cuts every pair of nodes that are in no component together.
func complete(n int, components ...[]int) Grudge {
	g := make(Grudge)
	for to := range n {
		for from := range n {
			if from != to && !together(components, from, to) {
				g[to] = append(g[to], from)
			}
		}
	}
	return g
}

func together(components [][]int, a, b int) bool {
	for _, c := range components {
		if slices.Contains(c, a) && slices.Contains(c, b) {
			return true
		}
	}
	return false
}

// Isolate cuts one node from all the others, both ways.
func Isolate(n, node int) Grudge {
	rest := make([]int, 0, n-1)
	for i := range n {
		if i != node {
			rest = append(rest, i)
		}
	}
	return complete(n, []int{node}, rest)
}

// Halves splits the nodes at random into a minority and a majority.
func Halves(n int, rng *rand.Rand) Grudge {
	p := rng.Perm(n)
	return complete(n, p[:n/2], p[n/2:])
}

// MajoritiesRing arranges the nodes in a random ring; each node hears only
// its nearest neighbours, just enough of them to see a majority. Every node
// then sees a majority, and no two see the same one, so no majority agrees
// on whom it sees. Needs at least 4 nodes: with 3, a majority window is the
// whole ring.
func MajoritiesRing(n int, rng *rand.Rand) (Grudge, error) {
	if n < 4 {
		return nil, fmt.Errorf("%w: majorities-ring needs 4 nodes, have %d", ErrTooFewNodes, n)
	}
	majority := n/2 + 1
	reach := majority / 2 // neighbours on each side: 2*reach+1 >= majority
	ring := rng.Perm(n)
	pos := make([]int, n)
	for i, node := range ring {
		pos[node] = i
	}
	g := make(Grudge)
	for to := range n {
		for from := range n {
			d := (pos[to] - pos[from] + n) % n
			if d > reach && n-d > reach {
				g[to] = append(g[to], from)
			}
		}
	}
	return g, nil
}

// Bridge splits the nodes into two sides that cannot hear each other and one
// node, the bridge, that hears both.
func Bridge(n int, rng *rand.Rand) (Grudge, error) {
	if n < 3 {
		return nil, fmt.Errorf("%w: bridge needs 3 nodes, have %d", ErrTooFewNodes, n)
	}
	p := rng.Perm(n)
	bridge, rest := p[0], p[1:]
	half := len(rest) / 2
	left := append([]int{bridge}, rest[:half]...)
	right := append([]int{bridge}, rest[half:]...)
	return complete(n, left, right), nil
}

// OneWay stops one node hearing from any other while they all still hear
// it: a leader whose heartbeats go out but whose replies never come back.
func OneWay(n, node int) Grudge {
	g := make(Grudge)
	for from := range n {
		if from != node {
			g[node] = append(g[node], from)
		}
	}
	return g
}
