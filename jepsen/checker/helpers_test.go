package checker

import (
	"testing"

	"github.com/rookery-mail/rookery/jepsen/history"
)

// hist builds a history by hand; each op gets the next index.
type hist struct{ h history.History }

func (b *hist) add(op history.Op) *hist {
	op.Index = len(b.h)
	b.h = append(b.h, op)
	return b
}

// dir adds a directory operation (create, delete, select) by process p.
func (b *hist) dir(p int, f, key string, out history.Outcome, errText string, inv, comp int64) *hist {
	return b.add(history.Op{Process: p, F: f, Key: key, Outcome: out, Error: errText, Invoke: inv, Complete: comp, Node: "n1"})
}

func wantValidity(t *testing.T, r Result, want Validity) {
	t.Helper()
	if r.Valid != want {
		t.Fatalf("%s: got %v, want %v\nresult: %+v", r.Checker, r.Valid, want, r)
	}
}

func wantAnomaly(t *testing.T, r Result, kind string) {
	t.Helper()
	wantValidity(t, r, Invalid)
	for _, a := range r.Anomalies {
		if a.Kind == kind {
			if len(a.Ops) == 0 || a.Detail == "" {
				t.Fatalf("anomaly without evidence: %+v", a)
			}
			return
		}
	}
	t.Fatalf("%s: no %q anomaly in %+v", r.Checker, kind, r.Anomalies)
}
