package checker

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/rookery-mail/rookery/jepsen/history"
)

// Interval is a span of the run's clock, in nanoseconds.
type Interval struct {
	Start int64 `json:"start_ns"`
	End   int64 `json:"end_ns"`
}

// ListStaleness checks invariant 7: once a CREATE has completed, a LIST on
// another frontend shows the name within Bound, unless that frontend was cut
// off from the leader (Disconnected, from the nemesis log) at the time or
// within Bound before, or a DELETE of the name may have come in between.
//
// It also measures the lag: for each created name and each other frontend,
// the time from the CREATE's completion to the completion of the first LIST
// there that shows it (an upper bound on the true lag).
type ListStaleness struct {
	Bound        time.Duration
	Disconnected map[string][]Interval
}

var _ Checker = ListStaleness{}

// Name implements Checker.
func (ListStaleness) Name() string { return "list-staleness" }

// Check implements Checker.
func (c ListStaleness) Check(h history.History) Result {
	b := newBuilder(c.Name())
	lists := sortedByInvoke(h.Filter(func(op history.Op) bool { return op.F == history.FList && op.Outcome == history.OK }))
	creates := h.Filter(func(op history.Op) bool { return op.F == history.FCreate && op.Outcome == history.OK })
	var lags []int64
	for _, cr := range creates {
		lags = append(lags, c.checkCreate(b, h, cr, lists)...)
	}
	b.count("creates", len(creates))
	b.count("lists", len(lists))
	b.count("lag_samples", len(lags))
	b.r.Stats = lagStats(lags)
	if b.r.Stats != nil {
		b.r.Stats["bound_ms"] = ms(int64(c.Bound))
	}
	return b.result(len(lags)+b.r.Counts["stale-list"], "no LIST on another frontend after a CREATE")
}

// checkCreate follows one created name through the lists of the other
// frontends, returning a lag sample per frontend that showed it.
func (c ListStaleness) checkCreate(b *builder, h history.History, cr history.Op, lists history.History) []int64 {
	start := sort.Search(len(lists), func(i int) bool { return lists[i].Invoke >= cr.Complete })
	done := make(map[string]bool)
	var lags []int64
	for _, l := range lists[start:] {
		if l.Node == cr.Node || done[l.Node] || !listCovers(l.Key, cr.Key) {
			continue
		}
		if slices.Contains(l.Value.Names, cr.Key) {
			done[l.Node] = true
			lags = append(lags, l.Complete-cr.Complete)
			continue
		}
		if time.Duration(l.Invoke-cr.Complete) <= c.Bound || c.excused(l) || mayHappenBetween(h, history.FDelete, cr, l) {
			continue
		}
		done[l.Node] = true
		b.anomaly(Anomaly{Kind: "stale-list", Key: cr.Key, Ops: []int{cr.Index, l.Index},
			Detail: fmt.Sprintf("%s lacked %q %v after its create via %s completed (bound %v)",
				l.Node, cr.Key, time.Duration(l.Invoke-cr.Complete).Round(time.Millisecond), cr.Node, c.Bound)})
	}
	return lags
}

// excused reports whether the list's frontend was cut off from the leader
// during the list or within Bound before it, while it caught up.
func (c ListStaleness) excused(l history.Op) bool {
	from := l.Invoke - int64(c.Bound)
	for _, iv := range c.Disconnected[l.Node] {
		if iv.Start <= l.Complete && from <= iv.End {
			return true
		}
	}
	return false
}

func lagStats(lags []int64) map[string]float64 {
	if len(lags) == 0 {
		return nil
	}
	s := slices.Clone(lags)
	slices.Sort(s)
	at := func(q float64) float64 { return ms(s[int(q*float64(len(s)-1))]) }
	return map[string]float64{
		"lag_p50_ms": at(0.5), "lag_p90_ms": at(0.9), "lag_p99_ms": at(0.99), "lag_max_ms": ms(s[len(s)-1]),
	}
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// listCovers says whether a LIST of pattern (its op's key; empty in
// histories that did not record it: every name) could show name: another
// workload's CREATE, of a name no LIST asked for, is not the LIST's to
// show. The IMAP wildcards: * matches anything, % anything but the
// hierarchy delimiter "/".
func listCovers(pattern, name string) bool {
	return pattern == "" || wildMatch(pattern, name)
}

func wildMatch(pattern, name string) bool {
	if pattern == "" {
		return name == ""
	}
	if pattern[0] == '*' || pattern[0] == '%' {
		for i := 0; i <= len(name); i++ {
			if pattern[0] == '%' && i > 0 && name[i-1] == '/' {
				return false
			}
			if wildMatch(pattern[1:], name[i:]) {
				return true
			}
		}
		return false
	}
	return name != "" && name[0] == pattern[0] && wildMatch(pattern[1:], name[1:])
}
