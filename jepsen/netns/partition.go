package netns

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Rule priorities in a node's namespace: the cuts, then the local table
// (moved there from 0 when the namespace is built), then main and default.
const (
	cutPref   = 10
	localPref = 100
)

// Link is traffic in one direction: from node From to node To (indexes).
type Link struct {
	From, To int
}

// Partition makes exactly the given links cut and every other link whole.
// A cut drops every packet the From node sends to the To node, at To, so
// that TCP and UDP see loss, not refusal: a new connection in either
// direction hangs (its SYN or SYN-ACK is lost), an open one stalls, and
// what was held is retransmitted after healing. The harness's own traffic
// to the nodes is never cut. Namespaces are changed one after another, a
// few milliseconds apart.
func (n *Network) Partition(ctx context.Context, cuts []Link) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	want := make([][]netip.Addr, len(n.Nodes))
	for _, l := range cuts {
		if l.From < 0 || l.From >= len(n.Nodes) || l.To < 0 || l.To >= len(n.Nodes) || l.From == l.To {
			return fmt.Errorf("netns: no link from node %d to node %d among %d nodes", l.From, l.To, len(n.Nodes))
		}
		if from := n.Nodes[l.From].IP; !slices.Contains(want[l.To], from) {
			want[l.To] = append(want[l.To], from)
		}
	}
	var errs []error
	for to, nd := range n.Nodes {
		if err := n.setCutsLocked(ctx, nd.Namespace, want[to]); err != nil {
			errs = append(errs, fmt.Errorf("netns: cuts into node %d: %w", to, err))
		}
	}
	return errors.Join(errs...)
}

// Heal makes every link whole.
func (n *Network) Heal(ctx context.Context) error { return n.Partition(ctx, nil) }

// Cuts lists the links cut now, as the kernel has them.
func (n *Network) Cuts(ctx context.Context) ([]Link, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	byIP := make(map[netip.Addr]int)
	for i, nd := range n.Nodes {
		byIP[nd.IP] = i
	}
	var out []Link
	for to, nd := range n.Nodes {
		froms, err := n.installedCutsLocked(ctx, nd.Namespace)
		if err != nil {
			return nil, err
		}
		for _, a := range froms {
			if from, ok := byIP[a]; ok {
				out = append(out, Link{From: from, To: to})
			}
		}
	}
	return out, nil
}

// setCutsLocked makes the sources dropped in namespace ns exactly want,
// changing only what differs from what the kernel has.
func (n *Network) setCutsLocked(ctx context.Context, ns string, want []netip.Addr) error {
	have, err := n.installedCutsLocked(ctx, ns)
	if err != nil {
		return err
	}
	var lines []string
	for _, a := range have {
		if !slices.Contains(want, a) {
			lines = append(lines, cutRule("del", a))
		}
	}
	for _, a := range want {
		if !slices.Contains(have, a) {
			lines = append(lines, cutRule("add", a))
		}
	}
	return ipBatch(ctx, n.ip, ns, lines)
}

func cutRule(verb string, from netip.Addr) string {
	return fmt.Sprintf("rule %s from %s iif eth0 blackhole pref %d", verb, from, cutPref)
}

// installedCutsLocked reads the sources namespace ns drops now.
func (n *Network) installedCutsLocked(ctx context.Context, ns string) ([]netip.Addr, error) {
	out, err := ipRun(ctx, n.ip, ns, "-j", "rule", "show")
	if err != nil {
		return nil, err
	}
	var rules []struct {
		Priority int
		Src      string
		Action   string
	}
	if err := decodeJSON(out, &rules); err != nil {
		return nil, fmt.Errorf("netns: ip rule show: %w", err)
	}
	var froms []netip.Addr
	for _, r := range rules {
		if r.Priority != cutPref || r.Action != "blackhole" {
			continue
		}
		if a, err := netip.ParseAddr(r.Src); err == nil {
			froms = append(froms, a)
		}
	}
	return froms, nil
}
