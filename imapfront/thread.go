package imapfront

import (
	"slices"
	"strconv"
	"strings"
)

// THREAD's two algorithms, RFC 5256 section 3, over the messages a search
// matched, given in mailbox order. Both build a tree of threadNodes under
// an implied root; the answer writes it out (section 4, THREAD response).

// threadNode is a message in a thread, or a dummy standing for a message
// that was referred to but not matched.
type threadNode struct {
	msg      *sortMsg // nil for a dummy
	parent   *threadNode
	children []*threadNode
}

// first is the message a node is sorted and named by: its own, or for a
// dummy its first child's.
func (n *threadNode) first() *sortMsg {
	for n.msg == nil {
		if len(n.children) == 0 {
			return nil
		}
		n = n.children[0]
	}
	return n.msg
}

// byFirst orders nodes by their first message's sent date (section 2.2).
func byFirst(a, b *threadNode) int { return bySent(a.first(), b.first()) }

// threadOrderedSubject is ORDEREDSUBJECT: messages sorted by base subject
// and sent date, one thread per base subject whose first message is the
// parent of all the others, threads sorted by their first message's sent
// date.
func threadOrderedSubject(msgs []*sortMsg) []*threadNode {
	sorted := slices.Clone(msgs)
	slices.SortFunc(sorted, func(a, b *sortMsg) int {
		if c := strings.Compare(a.base, b.base); c != 0 {
			return c
		}
		return bySent(a, b)
	})
	var roots []*threadNode
	var head *threadNode
	for _, m := range sorted {
		n := &threadNode{msg: m}
		if head != nil && head.msg.base == m.base {
			adopt(head, n)
			continue
		}
		head = n
		roots = append(roots, n)
	}
	slices.SortFunc(roots, byFirst)
	return roots
}

// threadReferences is REFERENCES, steps (1) to (6) of section 3.
func threadReferences(msgs []*sortMsg) []*threadNode {
	var tr refThreader
	tr.byID = make(map[string]*threadNode)
	for i, m := range msgs {
		tr.link(i, m)
	}
	roots := prune(tr.roots(), true) // (2), (3)
	for _, n := range roots {        // (4)
		if n.msg == nil {
			slices.SortFunc(n.children, byFirst)
		}
	}
	slices.SortFunc(roots, byFirst)
	roots = mergeBySubject(roots) // (5)
	sortSiblings(roots)           // (6)
	return roots
}

// refThreader holds step (1)'s state: a node for each message id seen,
// as a message or a reference.
type refThreader struct {
	byID  map[string]*threadNode
	nodes []*threadNode // in the order made, so that the result never depends on map order
}

func (tr *refThreader) node(id string) *threadNode {
	n := tr.byID[id]
	if n == nil {
		n = &threadNode{}
		tr.byID[id] = n
		tr.nodes = append(tr.nodes, n)
	}
	return n
}

// link is step (1) for the i-th searched message. A message without a
// valid Message-ID, or with one an earlier message has, gets an id of
// its own (one that no header can hold).
func (tr *refThreader) link(i int, m *sortMsg) {
	id := m.id
	if n := tr.byID[id]; id == "" || (n != nil && n.msg != nil) {
		id = "\x00" + strconv.Itoa(i)
	}
	n := tr.node(id)
	n.msg = m
	// (A) each reference the parent of the next, unless the next has a
	// parent already or the link would make a loop.
	var last *threadNode
	for _, ref := range m.refs {
		r := tr.node(ref)
		if last != nil && r.parent == nil && !makesLoop(last, r) {
			adopt(last, r)
		}
		last = r
	}
	// (B) the last reference is the parent, whatever parent the message
	// had from others' references; none when that would make a loop.
	if n.parent != nil && n.parent != last {
		unlink(n)
	}
	if last != nil && n.parent == nil && !makesLoop(last, n) {
		adopt(last, n)
	}
}

// roots are the nodes without a parent: the children of step (2)'s root.
func (tr *refThreader) roots() []*threadNode {
	var roots []*threadNode
	for _, n := range tr.nodes {
		if n.parent == nil {
			roots = append(roots, n)
		}
	}
	return roots
}

// makesLoop reports whether making parent the parent of child would make
// a loop: parent is child or one of its descendants. A child without
// children, the usual case in a mailbox in date order, needs no walk up.
func makesLoop(parent, child *threadNode) bool {
	if len(child.children) == 0 {
		return parent == child
	}
	for p := parent; p != nil; p = p.parent {
		if p == child {
			return true
		}
	}
	return false
}

// adopt makes child the last child of parent, taking it from its old
// parent.
func adopt(parent, child *threadNode) {
	if child.parent != nil {
		unlink(child)
	}
	child.parent = parent
	parent.children = append(parent.children, child)
}

func unlink(n *threadNode) {
	p := n.parent
	p.children = slices.DeleteFunc(p.children, func(c *threadNode) bool { return c == n })
	n.parent = nil
}

// prune is step (3) on one level of the tree: a dummy without children
// goes, one with children is replaced by them, except at the root, where
// it stays unless it has only one. Lower levels are pruned first, so that
// what is promoted is pruned already.
func prune(level []*threadNode, atRoot bool) []*threadNode {
	var out []*threadNode
	for _, n := range level {
		n.children = prune(n.children, false)
		for _, c := range n.children {
			c.parent = n
		}
		switch {
		case n.msg != nil:
			out = append(out, n)
		case len(n.children) == 0:
		case atRoot && len(n.children) > 1:
			out = append(out, n)
		default:
			out = append(out, n.children...)
		}
	}
	for _, n := range out {
		if atRoot {
			n.parent = nil
		}
	}
	return out
}

// subjectOf is step (5)'s thread subject: the base subject of the node's
// message, or of its first child's for a dummy.
func subjectOf(n *threadNode) string {
	if m := n.first(); m != nil {
		return m.base
	}
	return ""
}

// mergeBySubject is step (5): threads under the root with the same base
// subject are gathered into one, roots given in step (4)'s order.
func mergeBySubject(roots []*threadNode) []*threadNode {
	table := make(map[string]*threadNode)
	for _, n := range roots { // (B)
		subj := subjectOf(n)
		if subj == "" {
			continue
		}
		t, ok := table[subj]
		switch {
		case !ok:
			table[subj] = n
		case t.msg != nil && (n.msg == nil || t.msg.reply && !n.msg.reply):
			table[subj] = n
		}
	}
	out := slices.Clone(roots)
	for _, n := range roots { // (C)
		subj := subjectOf(n)
		t := table[subj]
		if subj == "" || t == n {
			continue
		}
		switch {
		case t.msg == nil && n.msg == nil:
			for _, c := range slices.Clone(n.children) {
				adopt(t, c)
			}
		case t.msg == nil, n.msg.reply && !t.msg.reply:
			adopt(t, n)
		default:
			d := &threadNode{}
			out = append(out, d)
			adopt(d, t)
			adopt(d, n)
			table[subj] = d
		}
	}
	return slices.DeleteFunc(out, func(n *threadNode) bool {
		return n.parent != nil || n.msg == nil && len(n.children) == 0
	})
}

// sortSiblings is step (6): every set of siblings by sent date, the
// lowest first, so that a dummy is sorted by its first child as sorted.
func sortSiblings(level []*threadNode) {
	for _, n := range level {
		sortSiblings(n.children)
	}
	slices.SortFunc(level, byFirst)
}

// threadAnswer is the THREAD response's data (RFC 5256 section 4).
func threadAnswer(roots []*threadNode) string {
	var b strings.Builder
	b.WriteString("THREAD")
	if len(roots) > 0 {
		b.WriteByte(' ')
	}
	for _, n := range roots {
		b.WriteByte('(')
		writeMembers(&b, n)
		b.WriteByte(')')
	}
	return b.String()
}

// writeMembers writes a thread from n down: a message then its only child
// as "n child", or its children as nested threads "n (a)(b)"; a dummy is
// its children only, as in "((3)(5))".
func writeMembers(b *strings.Builder, n *threadNode) {
	if n.msg == nil {
		if len(n.children) == 1 {
			writeMembers(b, n.children[0])
			return
		}
		writeNested(b, n.children)
		return
	}
	b.WriteString(strconv.FormatUint(uint64(n.msg.num), 10))
	switch len(n.children) {
	case 0:
	case 1:
		b.WriteByte(' ')
		writeMembers(b, n.children[0])
	default:
		b.WriteByte(' ')
		writeNested(b, n.children)
	}
}

func writeNested(b *strings.Builder, children []*threadNode) {
	for _, c := range children {
		b.WriteByte('(')
		writeMembers(b, c)
		b.WriteByte(')')
	}
}
