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
	ren    = history.FRename
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
		{"rename moves the name", new(hist).
			dir(0, create, "a", ok, "", 0, 10).rename(0, "a", "b", ok, "", 20, 30).
			dir(1, sel, "b", ok, "", 40, 50).dir(1, sel, "a", fail, absent, 60, 70), Valid},
		{"old name still there after its rename", new(hist).
			dir(0, create, "a", ok, "", 0, 10).rename(0, "a", "b", ok, "", 20, 30).
			dir(1, sel, "a", ok, "", 40, 50), Invalid},
		{"new name missing after the rename", new(hist).
			dir(0, create, "a", ok, "", 0, 10).rename(0, "a", "b", ok, "", 20, 30).
			dir(1, sel, "b", fail, absent, 40, 50), Invalid},
		{"rename of a name that does not exist", new(hist).
			rename(0, "a", "b", ok, "", 0, 10), Invalid},
		{"rename onto an existing name", new(hist).
			dir(0, create, "a", ok, "", 0, 10).dir(0, create, "b", ok, "", 20, 30).
			rename(0, "a", "b", ok, "", 40, 50), Invalid},
		{"rename refused as exists while the target is absent", new(hist).
			dir(0, create, "a", ok, "", 0, 10).rename(0, "a", "b", fail, exists, 20, 30), Invalid},
		{"rename refused as nonexistent while the source exists", new(hist).
			dir(0, create, "a", ok, "", 0, 10).rename(0, "a", "b", fail, absent, 20, 30), Invalid},
		{"rename refused rightly", new(hist).
			dir(0, create, "a", ok, "", 0, 10).dir(0, create, "b", ok, "", 20, 30).
			rename(0, "a", "b", fail, exists, 40, 50).rename(0, "c", "a", fail, absent, 60, 70), Valid},
		{"info rename may take effect late", new(hist).
			dir(0, create, "a", ok, "", 0, 10).rename(0, "a", "b", info, "", 20, 30).
			dir(1, sel, "b", fail, absent, 40, 50).dir(1, sel, "b", ok, "", 60, 70).
			dir(1, sel, "a", fail, absent, 80, 90), Valid},
		{"info rename happens once or not at all", new(hist).
			dir(0, create, "a", ok, "", 0, 10).rename(0, "a", "b", info, "", 20, 30).
			dir(1, sel, "b", ok, "", 40, 50).dir(1, sel, "a", ok, "", 60, 70), Invalid},
		{"create of the old name after the rename", new(hist).
			dir(0, create, "a", ok, "", 0, 10).rename(0, "a", "b", ok, "", 20, 30).
			dir(1, create, "a", ok, "", 40, 50).dir(1, sel, "b", ok, "", 60, 70), Valid},
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

func (b *hist) rename(p int, from, to string, out history.Outcome, errText string, inv, comp int64) *hist {
	return b.add(history.Op{Process: p, F: ren, Key: from, Value: history.Value{Names: []string{to}},
		Outcome: out, Error: errText, Invoke: inv, Complete: comp, Node: "n1"})
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
