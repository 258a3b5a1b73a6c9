package checker

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestNewAndWorkloads(t *testing.T) {
	for w := range workloadCheckers {
		names, err := ForWorkload(w)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := New(names, Default()); err != nil {
			t.Fatalf("workload %s: %v", w, err)
		}
	}
	if _, err := ForWorkload("bank"); !errors.Is(err, ErrUnknownChecker) {
		t.Fatalf("unknown workload: %v", err)
	}
	if _, err := New([]string{"uid", "nope"}, Default()); !errors.Is(err, ErrUnknownChecker) {
		t.Fatalf("unknown checker: %v", err)
	}
	if _, err := New(Names(), Config{}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("zero config: %v", err)
	}
}

func TestRunCombinesVerdicts(t *testing.T) {
	h := new(hist).dir(0, create, "a", ok, "", 0, 10).dir(0, sel, "a", fail, absent, 20, 30)
	cs, err := New([]string{"linearizable", "read-your-writes", "uid"}, Default())
	if err != nil {
		t.Fatal(err)
	}
	s := Run(h.h, cs)
	if s.Valid != Invalid || s.Results["uid"].Valid != Unknown || s.Results["linearizable"].Valid != Invalid {
		t.Fatalf("summary: %+v", s)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Summary
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Valid != Invalid || back.Results["uid"].Valid != Unknown {
		t.Fatalf("round trip: %s", b)
	}
	if err := json.Unmarshal([]byte(`{"valid":"maybe"}`), &back); !errors.Is(err, ErrBadResult) {
		t.Fatalf("bad validity: %v", err)
	}
	if got := Worst(Valid, Unknown, Valid); got != Unknown {
		t.Fatalf("worst: %v", got)
	}
	if Run(h.h, nil).Valid != Unknown {
		t.Fatal("no checkers should be unknown")
	}
}
