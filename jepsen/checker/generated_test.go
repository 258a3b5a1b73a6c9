package checker

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/jepsen/history"
)

// simulatedDirectory builds the history of a correct directory: each
// operation takes effect at a random instant inside its interval, against
// one true state. Some operations lose their reply (info); of those, some
// never took effect.
func simulatedDirectory(seed uint64, processes, perProcess, names int) history.History {
	return simulate(seed, processes, perProcess, names, []string{create, del, sel})
}

// simulatedRenames is simulatedDirectory with RENAMEs among the names.
func simulatedRenames(seed uint64, processes, perProcess, names int) history.History {
	return simulate(seed, processes, perProcess, names, []string{create, del, sel, ren})
}

func simulate(seed uint64, processes, perProcess, names int, fs []string) history.History {
	rng := rand.New(rand.NewPCG(seed, 7))
	type planned struct {
		op    history.Op
		at    int64
		takes bool
	}
	var ops []planned
	for p := range processes {
		t := int64(rng.IntN(1000))
		for range perProcess {
			inv := t
			comp := inv + 1 + int64(rng.IntN(5000))
			op := history.Op{Process: p, F: fs[rng.IntN(len(fs))], Key: string(rune('a' + rng.IntN(names))), Invoke: inv, Complete: comp, Node: "n1"}
			if op.F == ren {
				to := string(rune('a' + (int(op.Key[0]-'a')+1+rng.IntN(names-1))%names))
				op.Value.Names = []string{to}
			}
			info := rng.IntN(20) == 0
			ops = append(ops, planned{op: op, at: inv + rng.Int64N(comp-inv+1), takes: !info || rng.IntN(2) == 0})
			if info {
				ops[len(ops)-1].op.Outcome = history.Info
			}
			t = comp + int64(rng.IntN(500))
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].at < ops[j].at })
	exists := make(map[string]bool)
	for i := range ops {
		o := &ops[i].op
		if !ops[i].takes {
			continue
		}
		if o.F == ren {
			from, to := o.Key, o.Value.Names[0]
			refusal := ""
			switch {
			case !exists[from]:
				refusal = history.ErrorNonexistent
			case exists[to]:
				refusal = history.ErrorExists
			default:
				exists[from], exists[to] = false, true
			}
			if o.Outcome == history.Info {
				continue
			}
			o.Outcome, o.Error = history.OK, refusal
			if refusal != "" {
				o.Outcome = history.Fail
			}
			continue
		}
		okNow := exists[o.Key] == (o.F != create)
		if okNow && o.F != sel {
			exists[o.Key] = o.F == create
		}
		if o.Outcome == history.Info {
			continue
		}
		switch {
		case okNow:
			o.Outcome = history.OK
		case o.F == create:
			o.Outcome, o.Error = history.Fail, history.ErrorExists
		default:
			o.Outcome, o.Error = history.Fail, history.ErrorNonexistent
		}
	}
	h := make(history.History, len(ops))
	for i := range ops {
		h[i] = ops[i].op
	}
	sort.Slice(h, func(i, j int) bool { return h[i].Invoke < h[j].Invoke })
	for i := range h {
		h[i].Index = i
	}
	return h
}

func TestLinearizableAcceptsCorrectDirectories(t *testing.T) {
	for seed := range uint64(20) {
		h := simulatedDirectory(seed, 6, 60, 4)
		r := Linearizable{Timeout: 30 * time.Second}.Check(h)
		wantValidity(t, r, Valid)
	}
}

func TestLinearizableAcceptsCorrectRenames(t *testing.T) {
	for seed := range uint64(20) {
		h := simulatedRenames(seed, 6, 60, 4)
		r := Linearizable{Timeout: 30 * time.Second}.Check(h)
		wantValidity(t, r, Valid)
		if r.Counts["operations"] == 0 {
			t.Fatalf("seed %d: nothing checked", seed)
		}
	}
}

// TestLinearizableCatchesABrokenRename: a correct history with renames,
// then a rename acknowledged whose source is still selectable after it.
func TestLinearizableCatchesABrokenRename(t *testing.T) {
	h := simulatedRenames(5, 4, 40, 3)
	end := h.End()
	h = append(h,
		history.Op{Index: len(h), Process: 9, F: create, Key: "y", Outcome: ok, Invoke: end + 10, Complete: end + 20},
		history.Op{Index: len(h) + 1, Process: 9, F: ren, Key: "y", Value: history.Value{Names: []string{"x"}}, Outcome: ok, Invoke: end + 30, Complete: end + 40},
		history.Op{Index: len(h) + 2, Process: 9, F: sel, Key: "y", Outcome: ok, Invoke: end + 50, Complete: end + 60})
	wantAnomaly(t, Linearizable{Timeout: 30 * time.Second}.Check(h), "nonlinearizable")
}

func TestLinearizableCatchesABrokenSimulation(t *testing.T) {
	// The same simulation, with one successful select turned into a
	// NONEXISTENT refusal while its own process had just created the name
	// and nobody else touches it.
	h := simulatedDirectory(3, 4, 40, 3)
	end := h.End()
	h = append(h,
		history.Op{Index: len(h), Process: 9, F: create, Key: "z", Outcome: ok, Invoke: end + 10, Complete: end + 20},
		history.Op{Index: len(h) + 1, Process: 9, F: sel, Key: "z", Outcome: fail, Error: absent, Invoke: end + 30, Complete: end + 40})
	wantAnomaly(t, Linearizable{Timeout: 30 * time.Second}.Check(h), "nonlinearizable")
}

func BenchmarkLinearizable(b *testing.B) {
	h := simulatedDirectory(1, 10, 1000, 50)
	b.ReportMetric(float64(len(h)), "ops/history")
	for b.Loop() {
		if r := (Linearizable{Timeout: time.Minute}).Check(h); r.Valid != Valid {
			b.Fatalf("verdict %v", r.Valid)
		}
	}
}
