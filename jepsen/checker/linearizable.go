package checker

import (
	"fmt"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/rookery-mail/rookery/jepsen/history"
)

// Linearizable checks invariant 1: CREATE, DELETE and SELECT of one name
// behave as if each took effect at one instant between its invocation and its
// completion. Names are independent, so the history is checked name by name.
type Linearizable struct {
	// Timeout bounds the whole search; when it runs out on a name the
	// verdict is unknown rather than valid.
	Timeout time.Duration
}

var _ Checker = Linearizable{}

// Name implements Checker.
func (Linearizable) Name() string { return "linearizable" }

// dirInput is one directory operation as the model reads it.
type dirInput struct {
	F       string
	Outcome history.Outcome
	Error   string
	Op      int // index in the history, for anomalies and the timeline
	Node    string
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
	r := b.result(len(keys), "no create, delete or select operations")
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
// form, with the process as client and the mailbox name as Metadata. Operations that tell nothing are
// left out: a failure that certainly did not take effect and carries no
// observation, and a SELECT whose outcome is unknown. An operation with an
// unknown outcome may take effect at any time after its invocation, so it
// returns after everything else.
func DirectoryOperations(h history.History) []porcupine.Operation {
	end := h.End() + 1
	var out []porcupine.Operation
	for _, op := range h {
		if !informative(op) {
			continue
		}
		ret := op.Complete
		if op.Outcome == history.Info {
			ret = end
		}
		out = append(out, porcupine.Operation{
			ClientId: op.Process,
			Input:    dirInput{F: op.F, Outcome: op.Outcome, Error: op.Error, Op: op.Index, Node: op.Node},
			Call:     op.Invoke,
			Return:   ret,
			Metadata: op.Key,
		})
	}
	return out
}

func informative(op history.Op) bool {
	switch op.F {
	case history.FCreate:
		return op.Outcome != history.Fail || op.Error == history.ErrorExists
	case history.FDelete, history.FSelect:
		if op.Outcome == history.Fail {
			return op.Error == history.ErrorNonexistent
		}
		return op.F == history.FDelete || op.Outcome == history.OK
	}
	return false
}

// DirectoryModel is one name of the directory: absent or existing. CREATE
// succeeds only on an absent name, DELETE and SELECT only on an existing
// one; an operation whose outcome is unknown may or may not have happened.
func DirectoryModel() porcupine.Model {
	m := porcupine.NondeterministicModel{
		Partition: partitionByName,
		Init:      func() []any { return []any{false} },
		Step: func(state, input, _ any) []any {
			return stepName(state.(bool), input.(dirInput))
		},
		Hash: func(state any) uint64 {
			if state.(bool) {
				return 1
			}
			return 0
		},
		DescribeOperation: func(input, _ any) string {
			in := input.(dirInput)
			s := fmt.Sprintf("%s -> %s", in.F, in.Outcome)
			if in.Error != "" {
				s += " (" + in.Error + ")"
			}
			return fmt.Sprintf("%s #%d via %s", s, in.Op, in.Node)
		},
		DescribeState: func(state any) string {
			if state.(bool) {
				return "exists"
			}
			return "absent"
		},
		DescribeOperationMetadata: func(info any) string { return fmt.Sprintf("%q", info) },
	}
	return m.ToModel()
}

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
