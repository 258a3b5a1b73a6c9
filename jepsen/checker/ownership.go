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

// mailboxKey is one mailbox: a name and the id it had (ids are never
// reused).
type mailboxKey struct{ Name, ID string }

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
	acked := h.Filter(func(op history.Op) bool { return op.F == history.FAcked && op.Outcome == history.OK })
	epochs := checkAcked(b, acked)
	b.count("observations", len(obs))
	b.count("names", len(names))
	b.count("acked_observations", len(acked))
	b.count("acked_epochs", epochs)
	return b.result(len(obs)+len(acked), "no owners or acked observations")
}

// checkAcked judges the acked observations: one placement epoch of a
// mailbox names one primary, so two backends that acknowledged writes to
// the mailbox under the same epoch were two acknowledging primaries. A
// failover and a failback give the mailbox new epochs, never an old one
// again, so they raise no alarm. It returns how many (mailbox, epoch)
// pairs it saw.
func checkAcked(b *builder, acked history.History) int {
	type key struct {
		id    string
		epoch uint64
	}
	first := make(map[key]history.Op)
	reported := make(map[key]bool)
	for _, op := range acked {
		for _, m := range op.Value.Mailboxes {
			for _, e := range m.Epochs {
				k := key{m.ID, e}
				f, seen := first[k]
				if !seen {
					first[k] = op
					continue
				}
				if f.Node != op.Node && !reported[k] {
					reported[k] = true
					b.anomaly(Anomaly{Kind: "two-acknowledging-primaries", Key: "mailbox " + m.ID, Ops: []int{f.Index, op.Index},
						Detail: fmt.Sprintf("mailbox %s: %s and %s both acknowledged writes as primary under epoch %d", m.ID, f.Node, op.Node, e)})
				}
			}
		}
	}
	return len(first)
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
		prev := make(map[mailboxKey]history.Op)
		for _, op := range ops {
			cur := make(map[mailboxKey]history.Op)
			for _, mb := range op.Value.Mailboxes {
				m := mailboxKey{mb.Name, mb.ID}
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
