package checker

import (
	"testing"

	"github.com/rookery-mail/rookery/jepsen/history"
)

func (b *hist) deliver(key, id string, out history.Outcome, inv, comp int64) *hist {
	return b.add(history.Op{Process: 3, F: history.FDeliver, Key: key, Outcome: out, Invoke: inv, Complete: comp,
		Value: history.Value{MessageID: id}})
}

func (b *hist) read(key string, inv, comp int64, m []history.Message) *hist {
	return b.add(history.Op{Process: 9, F: history.FRead, Key: key, Outcome: ok, Invoke: inv, Complete: comp,
		Value: history.Value{UIDValidity: 7, Messages: m}})
}

func TestAcknowledged(t *testing.T) {
	cases := []struct {
		name string
		h    *hist
		want Validity
		kind string
	}{
		{"all acknowledged found once", new(hist).deliver("u1", "m1", ok, 0, 10).deliver("u1", "m2", info, 5, 20).
			deliver("u1", "m3", fail, 6, 15).deliver("u2", "m4", ok, 7, 30).
			read("u1", 100, 110, msgs(1, "m1", 2, "m2")).read("u2", 100, 110, msgs(1, "m4")), Valid, ""},
		{"acknowledged message lost", new(hist).deliver("u1", "m1", ok, 0, 10).deliver("u1", "m2", ok, 0, 10).
			read("u1", 100, 110, msgs(1, "m1")), Invalid, "lost"},
		{"delivered twice", new(hist).deliver("u1", "m1", ok, 0, 10).
			read("u1", 100, 110, msgs(1, "m1", 2, "m1")), Invalid, "duplicated"},
		{"unknown delivery delivered twice", new(hist).deliver("u1", "m1", info, 0, 10).
			read("u1", 100, 110, msgs(1, "m1", 2, "m1")), Invalid, "duplicated"},
		{"message nobody sent", new(hist).deliver("u1", "m1", ok, 0, 10).
			read("u1", 100, 110, msgs(1, "m1", 2, "m9")), Invalid, "unexpected"},
		{"delivered to the wrong mailbox", new(hist).deliver("u1", "m1", ok, 0, 10).
			read("u1", 100, 110, nil).read("u2", 100, 110, msgs(1, "m1")), Invalid, "lost"},
		{"no final read", new(hist).deliver("u1", "m1", ok, 0, 10).deliver("u2", "m2", ok, 0, 10).
			read("u1", 100, 110, msgs(1, "m1")), Unknown, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Acknowledged{}.Check(tc.h.h)
			wantValidity(t, r, tc.want)
			if tc.kind != "" {
				wantAnomaly(t, r, tc.kind)
			}
		})
	}
}

func TestAcknowledgedCounts(t *testing.T) {
	h := new(hist).deliver("u1", "m1", ok, 0, 10).deliver("u1", "m2", info, 5, 20).
		deliver("u1", "m3", info, 5, 20).deliver("u1", "m4", fail, 6, 15).deliver("u1", "m5", ok, 6, 15).
		read("u1", 100, 110, msgs(1, "m1", 2, "m2"))
	r := Acknowledged{}.Check(h.h)
	want := map[string]int{"acknowledged_found": 1, "unknown_found": 1, "unknown_absent": 1,
		"failed_absent": 1, "lost": 1, "duplicated": 0, "unexpected": 0, "attempted": 5}
	for k, v := range want {
		if r.Counts[k] != v {
			t.Errorf("count %s = %d, want %d (all: %v)", k, r.Counts[k], v, r.Counts)
		}
	}
}
