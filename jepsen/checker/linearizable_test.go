package checker

import (
	"testing"
	"time"

	"github.com/rookery-mail/rookery/jepsen/history"
)

const (
	create = history.FCreate
	del    = history.FDelete
	sel    = history.FSelect
	ok     = history.OK
	fail   = history.Fail
	info   = history.Info
	exists = history.ErrorExists
	absent = history.ErrorNonexistent
)

func TestLinearizable(t *testing.T) {
	lin := Linearizable{Timeout: 10 * time.Second}
	cases := []struct {
		name string
		h    *hist
		want Validity
	}{
		{"create select delete select", new(hist).
			dir(0, create, "a", ok, "", 0, 10).dir(1, sel, "a", ok, "", 20, 30).
			dir(0, del, "a", ok, "", 40, 50).dir(1, sel, "a", fail, absent, 60, 70), Valid},
		{"select before a concurrent create", new(hist).
			dir(0, create, "a", ok, "", 0, 100).dir(1, sel, "a", fail, absent, 10, 20), Valid},
		{"select misses a completed create", new(hist).
			dir(0, create, "a", ok, "", 0, 10).dir(1, sel, "a", fail, absent, 20, 30), Invalid},
		{"two creates, no delete", new(hist).
			dir(0, create, "a", ok, "", 0, 10).dir(1, create, "a", ok, "", 20, 30), Invalid},
		{"exists refusal on a fresh name", new(hist).
			dir(0, create, "a", fail, exists, 0, 10), Invalid},
		{"unavailable failure tells nothing", new(hist).
			dir(0, create, "a", fail, "unavailable", 0, 10).dir(1, sel, "a", fail, absent, 20, 30), Valid},
		{"info create takes effect late", new(hist).
			dir(0, create, "a", info, "", 0, 10).dir(1, sel, "a", fail, absent, 20, 30).
			dir(1, sel, "a", ok, "", 40, 50), Valid},
		{"info create cannot undo itself", new(hist).
			dir(0, create, "a", info, "", 0, 10).dir(1, sel, "a", ok, "", 20, 30).
			dir(1, sel, "a", fail, absent, 40, 50), Invalid},
		{"info delete may never happen", new(hist).
			dir(0, create, "a", ok, "", 0, 10).dir(0, del, "a", info, "", 20, 30).
			dir(1, sel, "a", ok, "", 40, 50), Valid},
		{"names are independent", new(hist).
			dir(0, create, "a", ok, "", 0, 10).dir(1, create, "b", ok, "", 20, 30).
			dir(1, sel, "a", ok, "", 40, 50), Valid},
		{"violation on one name of two", new(hist).
			dir(0, create, "a", ok, "", 0, 10).dir(1, create, "b", ok, "", 20, 30).
			dir(1, sel, "b", fail, absent, 40, 50), Invalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := lin.Check(tc.h.h)
			wantValidity(t, r, tc.want)
			if tc.want == Invalid {
				wantAnomaly(t, r, "nonlinearizable")
			}
		})
	}
}

func TestLinearizableNamesTheBrokenName(t *testing.T) {
	h := new(hist).dir(0, create, "a", ok, "", 0, 10).dir(1, create, "b", ok, "", 20, 30).
		dir(1, sel, "b", fail, absent, 40, 50)
	r := Linearizable{Timeout: 10 * time.Second}.Check(h.h)
	if len(r.Anomalies) != 1 || r.Anomalies[0].Key != "b" || r.Counts["names"] != 2 {
		t.Fatalf("result: %+v", r)
	}
}

func TestLinearizableEmptyIsUnknown(t *testing.T) {
	h := new(hist).add(history.Op{F: history.FList, Outcome: ok})
	wantValidity(t, Linearizable{}.Check(h.h), Unknown)
}
