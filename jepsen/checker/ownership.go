package checker

import (
	"fmt"
	"sort"

	"github.com/rookery-mail/rookery/jepsen/history"
)

// Ownership checks invariant 2: a name is never active on two backends at
// once. The history holds "owners" observations: a poller per backend asks
// it, one request at a time, which mailboxes it holds as primary.
//
// One observation shows a name active at some instant inside it. Two
// consecutive observations of one backend that both show the same mailbox
// (name and id: ids are never reused) show it active for the whole gap
// between them. A name shown by another backend inside such a gap, or two
// such gaps on two backends that overlap, is a violation.
type Ownership struct{}

var _ Checker = Ownership{}

// Name implements Checker.
func (Ownership) Name() string { return "ownership" }

type span struct {
	node       string
	start, end int64
	ops        []int
}

// Check implements Checker.
func (c Ownership) Check(h history.History) Result {
	b := newBuilder(c.Name())
	obs := h.Filter(func(op history.Op) bool { return op.F == history.FOwners && op.Outcome == history.OK })
	points, certain := ownershipSpans(obs)
	names := make([]string, 0, len(points))
	for n := range points {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		checkName(b, name, points[name], certain[name])
	}
	b.count("observations", len(obs))
	b.count("names", len(names))
	return b.result(len(obs), "no owners observations")
}

// ownershipSpans returns, per name, each observation as a point span and
// each certain-activity gap between consecutive observations of one node.
func ownershipSpans(obs history.History) (points, certain map[string][]span) {
	points = make(map[string][]span)
	certain = make(map[string][]span)
	byNode := make(map[string]history.History)
	for _, op := range obs {
		byNode[op.Node] = append(byNode[op.Node], op)
	}
	for node, ops := range byNode {
		sort.Slice(ops, func(i, j int) bool { return ops[i].Invoke < ops[j].Invoke })
		prev := make(map[history.Mailbox]history.Op)
		for _, op := range ops {
			cur := make(map[history.Mailbox]history.Op)
			for _, m := range op.Value.Mailboxes {
				points[m.Name] = append(points[m.Name], span{node: node, start: op.Invoke, end: op.Complete, ops: []int{op.Index}})
				if p, ok := prev[m]; ok && p.Complete <= op.Invoke {
					certain[m.Name] = append(certain[m.Name], span{node: node, start: p.Complete, end: op.Invoke, ops: []int{p.Index, op.Index}})
				}
				cur[m] = op
			}
			prev = cur
		}
	}
	return points, certain
}

func checkName(b *builder, name string, points, certain []span) {
	for _, c := range certain {
		for _, p := range points {
			if p.node != c.node && c.start <= p.start && p.end <= c.end {
				b.anomaly(Anomaly{Kind: "two-owners", Key: name, Ops: append(append([]int{}, c.ops...), p.ops...),
					Detail: fmt.Sprintf("active on %s throughout [%d, %d] ns and on %s within it", c.node, c.start, c.end, p.node)})
			}
		}
	}
	for i, x := range certain {
		for _, y := range certain[i+1:] {
			if x.node != y.node && x.start < y.end && y.start < x.end {
				b.anomaly(Anomaly{Kind: "two-owners", Key: name, Ops: append(append([]int{}, x.ops...), y.ops...),
					Detail: fmt.Sprintf("active on %s and on %s during overlapping spans", x.node, y.node)})
			}
		}
	}
}
