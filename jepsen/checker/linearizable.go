package checker

import (
	"fmt"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/rookery-mail/rookery/jepsen/history"
)

// Linearizable checks invariant 1: CREATE, DELETE, RENAME and SELECT behave
// as if each took effect at one instant between its invocation and its
// completion. Names that no RENAME joins are independent, so the history
// is checked by group: one name, or the names that renames join.
type Linearizable struct {
	// Timeout bounds the whole search; when it runs out on a name the
	// verdict is unknown rather than valid.
	Timeout time.Duration
}

var _ Checker = Linearizable{}

// Name implements Checker.
func (Linearizable) Name() string { return "linearizable" }

// dirInput is one directory operation as the model reads it. Bit is the
// name's place in its group's state; a RENAME's target is at ToBit.
type dirInput struct {
	F       string
	Outcome history.Outcome
	Error   string
	Op      int // index in the history, for anomalies and the timeline
	Node    string
	Bit     uint
	ToBit   uint
}

// Check implements Checker.
func (c Linearizable) Check(h history.History) Result {
	b := newBuilder(c.Name())
	ops := DirectoryOperations(h)
	byKey := make(map[string][]porcupine.Operation)
	for _, op := range ops {
		key := op.Metadata.(string)
		byKey[key] = append(byKey[key], op)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if big := oversizedGroups(h); big > 0 {
		b.count("names", len(keys))
		r := b.result(len(keys), "")
		r.Valid = Unknown
		r.Note = fmt.Sprintf("%d groups of renamed names hold more than %d names", big, maxGroup)
		return r
	}
	deadline := time.Now().Add(c.timeout())
	model := DirectoryModel()
	unknown := 0
	for _, key := range keys {
		left := time.Until(deadline)
		if left <= 0 {
			unknown++
			continue
		}
		switch porcupine.CheckOperationsTimeout(model, byKey[key], left) {
		case porcupine.Illegal:
			b.anomaly(explainIllegal(model, key, byKey[key], time.Until(deadline)))
		case porcupine.Unknown:
			unknown++
		}
	}
	b.count("names", len(keys))
	b.count("operations", len(ops))
	b.count("names_unknown", unknown)
	r := b.result(len(keys), "no create, delete, rename or select operations")
	if r.Valid == Valid && unknown > 0 {
		r.Valid = Unknown
		r.Note = fmt.Sprintf("search timed out on %d names", unknown)
	}
	return r
}

func (c Linearizable) timeout() time.Duration {
	if c.Timeout <= 0 {
		return time.Minute
	}
	return c.Timeout
}

// explainIllegal names the operation where the search got stuck: the
// earliest-returning one outside the longest order that does fit, and the
// operations of that order just before it.
func explainIllegal(model porcupine.Model, key string, ops []porcupine.Operation, left time.Duration) Anomaly {
	a := Anomaly{Kind: "nonlinearizable", Key: key,
		Detail: fmt.Sprintf("no order of the %d operations on %q fits a single copy", len(ops), key)}
	_, info := porcupine.CheckOperationsVerbose(model, ops, max(left, time.Second))
	var longest []porcupine.Operation
	for _, partition := range info.PartialLinearizationsOperations() {
		for _, lin := range partition {
			if len(lin) > len(longest) {
				longest = lin
			}
		}
	}
	placed := make(map[int]bool, len(longest))
	for _, op := range longest {
		placed[op.Input.(dirInput).Op] = true
	}
	var stuck *porcupine.Operation
	for i := range ops {
		if !placed[ops[i].Input.(dirInput).Op] && (stuck == nil || ops[i].Return < stuck.Return) {
			stuck = &ops[i]
		}
	}
	for _, op := range longest[max(0, len(longest)-4):] {
		a.Ops = append(a.Ops, op.Input.(dirInput).Op)
	}
	if stuck != nil {
		in := stuck.Input.(dirInput)
		a.Ops = append(a.Ops, in.Op)
		a.Detail = fmt.Sprintf("%s; %d fit, then op %d (%s %s %s) cannot follow them",
			a.Detail, len(longest), in.Op, in.F, in.Outcome, in.Error)
	}
	return a
}

// DirectoryOperations turns the directory operations of h into porcupine's
// form, with the process as client and the operation's group (see
// nameGroups) as Metadata. Operations that tell nothing are left out: a
// failure that certainly did not take effect and carries no observation,
// and a SELECT whose outcome is unknown. An operation with an unknown
// outcome may take effect at any time after its invocation, so it returns
// after everything else.
func DirectoryOperations(h history.History) []porcupine.Operation {
	end := h.End() + 1
	groups := nameGroups(h)
	var out []porcupine.Operation
	for _, op := range h {
		if !informative(op) {
			continue
		}
		ret := op.Complete
		if op.Outcome == history.Info {
			ret = end
		}
		g := groups[op.Key]
		in := dirInput{F: op.F, Outcome: op.Outcome, Error: op.Error, Op: op.Index, Node: op.Node, Bit: g.bit}
		if op.F == history.FRename {
			in.ToBit = groups[renameTarget(op)].bit
		}
		out = append(out, porcupine.Operation{
			ClientId: op.Process,
			Input:    in,
			Call:     op.Invoke,
			Return:   ret,
			Metadata: g.name,
		})
	}
	return out
}

// maxGroup bounds the names one group's state can hold.
const maxGroup = 64

// nameGroup is where a name sits in the model: its group, named by the
// group's first name in order, and its bit in the group's state.
type nameGroup struct {
	name string
	bit  uint
}

// nameGroups joins the names that a RENAME connects: the model of a group
// is the set of its names that exist. A name no RENAME touches is a group
// of its own.
func nameGroups(h history.History) map[string]nameGroup {
	parent := make(map[string]string)
	var find func(string) string
	find = func(n string) string {
		p, ok := parent[n]
		if !ok || p == n {
			parent[n] = n
			return n
		}
		root := find(p)
		parent[n] = root
		return root
	}
	for _, op := range h {
		if !informative(op) {
			continue
		}
		find(op.Key)
		if op.F == history.FRename {
			a, b := find(op.Key), find(renameTarget(op))
			if a != b {
				parent[max(a, b)] = min(a, b)
			}
		}
	}
	names := make([]string, 0, len(parent))
	for n := range parent {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make(map[string]nameGroup, len(names))
	size := make(map[string]uint)
	for _, n := range names {
		root := find(n)
		out[n] = nameGroup{name: root, bit: size[root]}
		size[root]++
	}
	return out
}

// oversizedGroups counts the groups too big for the model's state.
func oversizedGroups(h history.History) int {
	size := make(map[string]int)
	big := 0
	for _, g := range nameGroups(h) {
		if size[g.name]++; size[g.name] == maxGroup+1 {
			big++
		}
	}
	return big
}

// renameTarget is a RENAME's new name, which the workload records as the
// first of Value.Names.
func renameTarget(op history.Op) string {
	if len(op.Value.Names) == 0 {
		return ""
	}
	return op.Value.Names[0]
}

func informative(op history.Op) bool {
	switch op.F {
	case history.FCreate:
		return op.Outcome != history.Fail || op.Error == history.ErrorExists
	case history.FRename:
		if renameTarget(op) == "" || renameTarget(op) == op.Key {
			return false
		}
		return op.Outcome != history.Fail || op.Error == history.ErrorExists || op.Error == history.ErrorNonexistent
	case history.FDelete, history.FSelect:
		if op.Outcome == history.Fail {
			return op.Error == history.ErrorNonexistent
		}
		return op.F == history.FDelete || op.Outcome == history.OK
	}
	return false
}

// DirectoryModel is one group of names (see nameGroups): the set of its
// names that exist, one bit each. CREATE succeeds only on an absent name,
// DELETE and SELECT only on an existing one, RENAME only from an existing
// name to an absent one; an operation whose outcome is unknown may or may
// not have happened.
func DirectoryModel() porcupine.Model {
	m := porcupine.NondeterministicModel{
		Partition: partitionByName,
		Init:      func() []any { return []any{uint64(0)} },
		Step: func(state, input, _ any) []any {
			return stepGroup(state.(uint64), input.(dirInput))
		},
		Hash: func(state any) uint64 { return state.(uint64) },
		DescribeOperation: func(input, _ any) string {
			in := input.(dirInput)
			s := fmt.Sprintf("%s -> %s", in.F, in.Outcome)
			if in.Error != "" {
				s += " (" + in.Error + ")"
			}
			return fmt.Sprintf("%s #%d via %s", s, in.Op, in.Node)
		},
		DescribeState: func(state any) string {
			return fmt.Sprintf("existing names %b", state.(uint64))
		},
		DescribeOperationMetadata: func(info any) string { return fmt.Sprintf("%q", info) },
	}
	return m.ToModel()
}

// stepGroup is the states an operation may leave behind from state, none
// when it cannot happen there.
func stepGroup(state uint64, in dirInput) []any {
	if in.F == history.FRename {
		return stepRename(state, in)
	}
	bit := uint64(1) << in.Bit
	next := stepName(state&bit != 0, in)
	out := make([]any, len(next))
	for i, exists := range next {
		if exists.(bool) {
			out[i] = state | bit
		} else {
			out[i] = state &^ bit
		}
	}
	return out
}

func stepRename(state uint64, in dirInput) []any {
	from, to := uint64(1)<<in.Bit, uint64(1)<<in.ToBit
	can := state&from != 0 && state&to == 0
	renamed := state&^from | to
	switch {
	case in.Outcome == history.OK:
		if !can {
			return nil
		}
		return []any{renamed}
	case in.Error == history.ErrorNonexistent:
		if state&from != 0 {
			return nil
		}
		return []any{state}
	case in.Error == history.ErrorExists:
		if state&to == 0 {
			return nil
		}
		return []any{state}
	case can:
		return []any{state, renamed}
	}
	return []any{state}
}

// stepName is the step of CREATE, DELETE and SELECT on one name.
func stepName(exists bool, in dirInput) []any {
	switch {
	case in.F == history.FCreate && in.Outcome == history.OK,
		in.F == history.FDelete && in.Outcome == history.Fail,
		in.F == history.FSelect && in.Outcome == history.Fail:
		// Needs the name absent (create ok, or a NONEXISTENT refusal).
		if exists {
			return nil
		}
		return []any{in.F == history.FCreate}
	case in.F == history.FCreate && in.Outcome == history.Fail,
		in.F == history.FDelete && in.Outcome == history.OK,
		in.F == history.FSelect && in.Outcome == history.OK:
		// Needs the name to exist.
		if !exists {
			return nil
		}
		return []any{in.F != history.FDelete}
	case in.F == history.FCreate:
		return []any{exists, true}
	case in.F == history.FDelete:
		return []any{exists, false}
	}
	return []any{exists}
}

func partitionByName(ops []porcupine.Operation) [][]porcupine.Operation {
	idx := make(map[string]int)
	var out [][]porcupine.Operation
	for _, op := range ops {
		k := op.Metadata.(string)
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], op)
	}
	return out
}
