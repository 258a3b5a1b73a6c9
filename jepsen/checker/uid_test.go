package checker

import (
	"testing"

	"github.com/rookery-mail/rookery/jepsen/history"
)

func msgs(pairs ...any) []history.Message {
	var out []history.Message
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, history.Message{UID: uint32(pairs[i].(int)), MessageID: pairs[i+1].(string)})
	}
	return out
}

func (b *hist) fetch(p int, key string, uv uint32, inv, comp int64, m []history.Message) *hist {
	return b.add(history.Op{Process: p, F: history.FFetch, Key: key, Outcome: ok, Invoke: inv, Complete: comp,
		Value: history.Value{UIDValidity: uv, Messages: m}})
}

func (b *hist) appendMsg(p int, key string, uv, uid uint32, id string, inv, comp int64) *hist {
	return b.add(history.Op{Process: p, F: history.FAppend, Key: key, Outcome: ok, Invoke: inv, Complete: comp,
		Value: history.Value{UIDValidity: uv, UID: uid, MessageID: id}})
}

func (b *hist) expunge(p int, key string, uv uint32, inv, comp int64, uids ...uint32) *hist {
	return b.add(history.Op{Process: p, F: history.FExpunge, Key: key, Outcome: ok, Invoke: inv, Complete: comp,
		Value: history.Value{UIDValidity: uv, UIDs: uids}})
}

func TestUID(t *testing.T) {
	cases := []struct {
		name string
		h    *hist
		want Validity
		kind string
	}{
		{"ascending", new(hist).appendMsg(0, "a", 7, 1, "m1", 0, 10).appendMsg(0, "a", 7, 2, "m2", 20, 30).
			fetch(1, "a", 7, 40, 50, msgs(1, "m1", 2, "m2")).appendMsg(0, "a", 7, 3, "m3", 60, 70).
			fetch(1, "a", 7, 80, 90, msgs(1, "m1", 2, "m2", 3, "m3")), Valid, ""},
		{"one uid, two messages", new(hist).fetch(1, "a", 7, 0, 10, msgs(1, "m1")).
			fetch(2, "a", 7, 20, 30, msgs(1, "m2")), Invalid, "uid-conflict"},
		{"append result against a fetch", new(hist).appendMsg(0, "a", 7, 4, "m1", 0, 10).
			fetch(2, "a", 7, 20, 30, msgs(4, "m2")), Invalid, "uid-conflict"},
		{"a new uidvalidity starts afresh", new(hist).fetch(1, "a", 7, 0, 10, msgs(1, "m1")).
			fetch(2, "a", 8, 20, 30, msgs(1, "m2")), Valid, ""},
		{"given again after expunge", new(hist).fetch(1, "a", 7, 0, 10, msgs(5, "m1")).
			expunge(1, "a", 7, 20, 30, 5).fetch(1, "a", 7, 40, 50, msgs(5, "m9")), Invalid, "uid-reused"},
		{"new message below a known uid", new(hist).fetch(1, "a", 7, 0, 10, msgs(1, "m1", 3, "m3")).
			fetch(1, "a", 7, 20, 30, msgs(1, "m1", 2, "m2", 3, "m3")), Invalid, "uid-below-known"},
		{"re-numbered by a merge above what was known", new(hist).fetch(1, "a", 7, 0, 10, msgs(1, "m1", 3, "m3")).
			fetch(1, "a", 7, 20, 30, msgs(1, "m1", 3, "m3", 4, "m2")), Valid, ""},
		{"known message renumbered below a known uid", new(hist).fetch(1, "a", 7, 0, 10, msgs(1, "m1", 3, "m2", 5, "m3")).
			fetch(1, "a", 7, 20, 30, msgs(1, "m1", 2, "m2", 5, "m3")), Invalid, "uid-below-known"},
		{"expunged and renumbered above", new(hist).fetch(1, "a", 7, 0, 10, msgs(1, "m1", 3, "m2")).
			fetch(1, "a", 7, 20, 30, msgs(1, "m1", 6, "m2")), Valid, ""},
		{"another client's order is its own", new(hist).fetch(1, "a", 7, 0, 10, msgs(3, "m3")).
			fetch(2, "a", 7, 20, 30, msgs(2, "m2", 3, "m3")), Valid, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := UID{}.Check(tc.h.h)
			wantValidity(t, r, tc.want)
			if tc.kind != "" {
				wantAnomaly(t, r, tc.kind)
			}
		})
	}
	wantValidity(t, UID{}.Check(new(hist).dir(0, create, "a", ok, "", 0, 1).h), Unknown)
}
