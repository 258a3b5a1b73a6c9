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

func (b *hist) appendOp(key, id string, out history.Outcome, uid uint32, inv, comp int64) *hist {
	return b.add(history.Op{Process: 4, F: history.FAppend, Key: key, Outcome: out, Invoke: inv, Complete: comp,
		Value: history.Value{MessageID: id, UID: uid, UIDValidity: 7}})
}

// TestAcknowledgedAppends: APPEND OK is held to the same rule as LMTP 250.
func TestAcknowledgedAppends(t *testing.T) {
	cases := []struct {
		name string
		h    *hist
		want Validity
		kind string
	}{
		{"every acknowledged append found once", new(hist).appendOp("mb", "a1", ok, 1, 0, 10).
			appendOp("mb", "a2", info, 0, 5, 20).appendOp("mb", "a3", ok, 3, 6, 15).deliver("mb", "d1", ok, 7, 30).
			read("mb", 100, 110, msgs(1, "a1", 3, "a3", 5, "d1")), Valid, ""},
		{"acknowledged append lost", new(hist).appendOp("mb", "a1", ok, 1, 0, 10).appendOp("mb", "a2", ok, 3, 0, 10).
			read("mb", 100, 110, msgs(1, "a1")), Invalid, "lost"},
		{"append stored twice", new(hist).appendOp("mb", "a1", ok, 1, 0, 10).
			read("mb", 100, 110, msgs(1, "a1", 4, "a1")), Invalid, "duplicated"},
		{"unanswered append stored twice", new(hist).appendOp("mb", "a1", info, 0, 0, 10).
			read("mb", 100, 110, msgs(1, "a1", 4, "a1")), Invalid, "duplicated"},
		{"append found in another mailbox", new(hist).appendOp("mb", "a1", ok, 1, 0, 10).
			read("mb", 100, 110, nil).read("other", 100, 110, msgs(1, "a1")), Invalid, "lost"},
		{"appended mailbox never read", new(hist).appendOp("mb", "a1", ok, 1, 0, 10).appendOp("mb2", "a2", ok, 1, 0, 10).
			read("mb", 100, 110, msgs(1, "a1")), Unknown, ""},
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
