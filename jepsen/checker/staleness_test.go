package checker

import (
	"testing"
	"time"

	"github.com/rookery-mail/rookery/jepsen/history"
)

func (b *hist) createVia(node, key string, inv, comp int64) *hist {
	return b.add(history.Op{Process: 0, F: create, Key: key, Node: node, Outcome: ok, Invoke: inv, Complete: comp})
}

func (b *hist) list(node string, inv, comp int64, names ...string) *hist {
	return b.add(history.Op{Process: 1, F: history.FList, Node: node, Outcome: ok, Invoke: inv, Complete: comp,
		Value: history.Value{Names: names}})
}

func (b *hist) listOf(node, pattern string, inv, comp int64, names ...string) *hist {
	return b.add(history.Op{Process: 1, F: history.FList, Key: pattern, Node: node, Outcome: ok, Invoke: inv, Complete: comp,
		Value: history.Value{Names: names}})
}

func TestListCovers(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"", "anything", true}, {"ls-*", "ls-1-2", true}, {"ls-*", "own-0", false}, {"*", "a/b", true},
		{"%", "a/b", false}, {"a/%", "a/b", true}, {"ls-%-1", "ls-3-1", true}, {"ls-*", "ls-", true}, {"ls-?", "ls-1", false},
	} {
		if got := listCovers(tc.pattern, tc.name); got != tc.want {
			t.Errorf("listCovers(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestListStaleness(t *testing.T) {
	const bound = 1000
	cases := []struct {
		name string
		h    *hist
		down map[string][]Interval
		want Validity
	}{
		{"shown quickly", new(hist).createVia("n1", "a", 0, 100).list("n2", 150, 160, "a"), nil, Valid},
		{"missing within the bound", new(hist).createVia("n1", "a", 0, 100).list("n2", 500, 510).
			list("n2", 900, 950, "a"), nil, Valid},
		{"missing beyond the bound", new(hist).createVia("n1", "a", 0, 100).list("n2", 2000, 2010), nil, Invalid},
		{"cut off just before", new(hist).createVia("n1", "a", 0, 100).list("n3", 150, 160, "a").list("n2", 2000, 2010),
			map[string][]Interval{"n2": {{Start: 1500, End: 1900}}}, Valid},
		{"cut off long before", new(hist).createVia("n1", "a", 0, 100).list("n2", 2000, 2010),
			map[string][]Interval{"n2": {{Start: 200, End: 500}}}, Invalid},
		{"deleted in between", new(hist).createVia("n1", "a", 0, 100).dir(2, del, "a", ok, "", 1200, 1300).
			list("n3", 150, 160, "a").list("n2", 2000, 2010), nil, Valid},
		{"nothing judged", new(hist).createVia("n1", "a", 0, 100).list("n2", 2000, 2010),
			map[string][]Interval{"n2": {{Start: 1500, End: 1900}}}, Unknown},
		{"a name outside the LIST's pattern is not judged", new(hist).createVia("n1", "own-0", 0, 100).
			createVia("n1", "ls-1", 0, 100).listOf("n2", "ls-*", 2000, 2010, "ls-1"), nil, Valid},
		{"a name inside the LIST's pattern is", new(hist).createVia("n1", "ls-1", 0, 100).
			listOf("n2", "ls-*", 2000, 2010), nil, Invalid},
		{"own frontend is not judged", new(hist).createVia("n1", "a", 0, 100).list("n1", 2000, 2010).
			list("n2", 200, 210, "a"), nil, Valid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ListStaleness{Bound: bound, Disconnected: tc.down}.Check(tc.h.h)
			wantValidity(t, r, tc.want)
			if tc.want == Invalid {
				wantAnomaly(t, r, "stale-list")
			}
		})
	}
}

func TestListStalenessDistribution(t *testing.T) {
	h := new(hist).createVia("n1", "a", 0, 1_000_000).createVia("n1", "b", 0, 1_000_000).
		list("n2", 2_000_000, 3_000_000, "a", "b").list("n3", 5_000_000, 11_000_000, "a").list("n3", 12_000_000, 13_000_000, "b")
	r := ListStaleness{Bound: time.Second}.Check(h.h)
	wantValidity(t, r, Valid)
	if r.Counts["lag_samples"] != 4 || r.Stats["lag_max_ms"] != 12 || r.Stats["lag_p50_ms"] != 2 {
		t.Fatalf("counts %v stats %v", r.Counts, r.Stats)
	}
	wantValidity(t, ListStaleness{Bound: time.Second}.Check(new(hist).createVia("n1", "a", 0, 1).h), Unknown)
}
