package checker

import (
	"testing"

	"github.com/rookery-mail/rookery/jepsen/history"
)

func TestReadYourWrites(t *testing.T) {
	cases := []struct {
		name string
		h    *hist
		want Validity
		kind string
	}{
		{"create then select", new(hist).dir(0, create, "a", ok, "", 0, 10).dir(0, sel, "a", ok, "", 20, 30), Valid, ""},
		{"create then select misses", new(hist).dir(0, create, "a", ok, "", 0, 10).
			dir(0, sel, "a", fail, absent, 20, 30), Invalid, "lost-own-create"},
		{"another client's delete in between", new(hist).dir(0, create, "a", ok, "", 0, 10).
			dir(1, del, "a", ok, "", 12, 18).dir(0, sel, "a", fail, absent, 20, 30), Valid, ""},
		{"another client's unknown delete in between", new(hist).dir(0, create, "a", ok, "", 0, 10).
			dir(1, del, "a", info, "", 12, 100).dir(0, sel, "a", fail, absent, 20, 30), Valid, ""},
		{"a delete done before the create excuses nothing", new(hist).dir(1, del, "a", ok, "", 0, 5).
			dir(0, create, "a", ok, "", 10, 20).dir(0, sel, "a", fail, absent, 30, 40), Invalid, "lost-own-create"},
		{"a failed delete excuses nothing", new(hist).dir(0, create, "a", ok, "", 0, 10).
			dir(1, del, "a", fail, "unavailable", 12, 18).dir(0, sel, "a", fail, absent, 20, 30), Invalid, "lost-own-create"},
		{"delete then select finds it", new(hist).dir(0, create, "a", ok, "", 0, 10).
			dir(0, del, "a", ok, "", 20, 30).dir(0, sel, "a", ok, "", 40, 50), Invalid, "resurrected-after-own-delete"},
		{"rename then select the new name", new(hist).dir(0, create, "a", ok, "", 0, 10).
			rename(0, "a", "b", ok, "", 20, 30).dir(0, sel, "b", ok, "", 40, 50), Valid, ""},
		{"rename then the new name is missing", new(hist).dir(0, create, "a", ok, "", 0, 10).
			rename(0, "a", "b", ok, "", 20, 30).dir(0, sel, "b", fail, absent, 40, 50), Invalid, "lost-own-create"},
		{"rename then the old name is still there", new(hist).dir(0, create, "a", ok, "", 0, 10).
			rename(0, "a", "b", ok, "", 20, 30).dir(0, sel, "a", ok, "", 40, 50), Invalid, "resurrected-after-own-delete"},
		{"another client's rename away in between", new(hist).dir(0, create, "a", ok, "", 0, 10).
			rename(1, "a", "c", ok, "", 12, 18).dir(0, sel, "a", fail, absent, 20, 30), Valid, ""},
		{"another client's rename onto the name in between", new(hist).dir(0, create, "a", ok, "", 0, 10).
			dir(0, del, "a", ok, "", 20, 30).rename(1, "c", "a", info, "", 32, 38).dir(0, sel, "a", ok, "", 40, 50), Valid, ""},
		{"the same instance after own delete, another's create in between", new(hist).dir(0, create, "a", ok, "", 0, 10).
			selUV(0, "a", 5, 12, 14).dir(0, del, "a", ok, "", 20, 30).dir(1, create, "a", info, "", 32, 38).
			selUV(0, "a", 5, 40, 50), Invalid, "resurrected-after-own-delete"},
		{"a new instance after own delete, another's create in between", new(hist).dir(0, create, "a", ok, "", 0, 10).
			selUV(0, "a", 5, 12, 14).dir(0, del, "a", ok, "", 20, 30).dir(1, create, "a", info, "", 32, 38).
			selUV(0, "a", 7, 40, 50), Valid, ""},
		{"an instance renamed in keeps its uidvalidity", new(hist).dir(0, create, "a", ok, "", 0, 10).
			selUV(0, "a", 5, 12, 14).rename(0, "a", "b", ok, "", 20, 30).dir(0, del, "b", ok, "", 32, 34).
			dir(1, create, "b", info, "", 35, 38).selUV(0, "b", 5, 40, 50), Invalid, "resurrected-after-own-delete"},
		{"the same instance renamed away and back by another client", new(hist).dir(0, create, "a", ok, "", 0, 10).
			selUV(0, "a", 5, 12, 14).rename(0, "a", "b", ok, "", 20, 30).rename(1, "b", "a", ok, "", 32, 38).
			selUV(0, "a", 5, 40, 50), Valid, ""},
		{"the same instance after own rename away, nothing renamed back", new(hist).dir(0, create, "a", ok, "", 0, 10).
			selUV(0, "a", 5, 12, 14).rename(0, "a", "b", ok, "", 20, 30).dir(1, create, "a", info, "", 32, 38).
			selUV(0, "a", 5, 40, 50), Invalid, "resurrected-after-own-delete"},
		{"another connection's select does not count", new(hist).dir(0, create, "a", ok, "", 0, 10).
			dir(1, sel, "a", fail, absent, 20, 30).dir(0, sel, "a", ok, "", 40, 50), Valid, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ReadYourWrites{}.Check(tc.h.h)
			wantValidity(t, r, tc.want)
			if tc.kind != "" {
				wantAnomaly(t, r, tc.kind)
			}
		})
	}
}

// selUV adds a successful SELECT that saw uidvalidity uv.
func (b *hist) selUV(p int, key string, uv uint32, inv, comp int64) *hist {
	return b.add(history.Op{Process: p, F: sel, Key: key, Outcome: ok, Invoke: inv, Complete: comp, Node: "n1",
		Value: history.Value{UIDValidity: uv}})
}

func TestReadYourWritesNothingToCheck(t *testing.T) {
	h := new(hist).dir(0, create, "a", ok, "", 0, 10).dir(1, sel, "a", ok, "", 20, 30)
	wantValidity(t, ReadYourWrites{}.Check(h.h), Unknown)
}
