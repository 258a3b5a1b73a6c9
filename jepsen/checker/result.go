// Package checker reads a history and says whether it breaks one of the
// cluster's invariants. Every checker returns valid, invalid or unknown
// (not enough of the history to tell), with counts and example anomalies.
package checker

import (
	"fmt"
	"sort"

	"github.com/rookery-mail/rookery/jepsen/history"
)

// Validity is a checker's verdict. It is stored in JSON as Jepsen does:
// true, false or "unknown".
type Validity int

const (
	Unknown Validity = iota
	Valid
	Invalid
)

func (v Validity) String() string {
	switch v {
	case Valid:
		return "valid"
	case Invalid:
		return "invalid"
	}
	return "unknown"
}

// MarshalJSON writes true, false or "unknown".
func (v Validity) MarshalJSON() ([]byte, error) {
	switch v {
	case Valid:
		return []byte("true"), nil
	case Invalid:
		return []byte("false"), nil
	}
	return []byte(`"unknown"`), nil
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (v *Validity) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true":
		*v = Valid
	case "false":
		*v = Invalid
	case `"unknown"`:
		*v = Unknown
	default:
		return fmt.Errorf("%w: validity %s", ErrBadResult, b)
	}
	return nil
}

// Worst combines verdicts: any invalid makes the whole invalid; otherwise any
// unknown makes it unknown.
func Worst(vs ...Validity) Validity {
	out := Valid
	for _, v := range vs {
		switch {
		case v == Invalid:
			return Invalid
		case v == Unknown:
			out = Unknown
		}
	}
	return out
}

// Anomaly is one example of a broken invariant, with the indices of the
// operations that show it.
type Anomaly struct {
	Kind   string `json:"kind"`
	Key    string `json:"key,omitempty"`
	Ops    []int  `json:"ops,omitempty"`
	Detail string `json:"detail"`
}

// Result is one checker's verdict on a history.
type Result struct {
	Checker   string             `json:"checker"`
	Valid     Validity           `json:"valid"`
	Counts    map[string]int     `json:"counts"`
	Stats     map[string]float64 `json:"stats,omitempty"`
	Anomalies []Anomaly          `json:"anomalies,omitempty"`
	Note      string             `json:"note,omitempty"`
}

// Checker is one invariant's check.
type Checker interface {
	Name() string
	Check(h history.History) Result
}

// maxExamples bounds the anomalies kept per kind; the counts carry totals.
const maxExamples = 10

// builder accumulates a Result.
type builder struct {
	r       Result
	perKind map[string]int
}

func newBuilder(name string) *builder {
	return &builder{r: Result{Checker: name, Counts: make(map[string]int)}, perKind: make(map[string]int)}
}

func (b *builder) count(key string, n int) { b.r.Counts[key] += n }

// anomaly counts one anomaly under its kind and keeps it as an example while
// fewer than maxExamples of that kind are kept.
func (b *builder) anomaly(a Anomaly) {
	b.r.Counts[a.Kind]++
	b.perKind[a.Kind]++
	if b.perKind[a.Kind] <= maxExamples {
		b.r.Anomalies = append(b.r.Anomalies, a)
	}
}

// result decides the verdict: invalid with any anomaly, unknown when the
// history held nothing to check (checked == 0), valid otherwise.
func (b *builder) result(checked int, note string) Result {
	switch {
	case len(b.perKind) > 0:
		b.r.Valid = Invalid
	case checked == 0:
		b.r.Valid = Unknown
		b.r.Note = note
	default:
		b.r.Valid = Valid
	}
	return b.r
}

// Summary is the verdict of a set of checkers, as stored in results.json.
type Summary struct {
	Valid   Validity          `json:"valid"`
	Results map[string]Result `json:"results"`
}

// Run runs every checker on h.
func Run(h history.History, checkers []Checker) Summary {
	s := Summary{Valid: Valid, Results: make(map[string]Result, len(checkers))}
	var vs []Validity
	for _, c := range checkers {
		r := c.Check(h)
		s.Results[c.Name()] = r
		vs = append(vs, r.Valid)
	}
	if len(checkers) == 0 {
		vs = append(vs, Unknown)
	}
	s.Valid = Worst(vs...)
	return s
}

// Names lists the checkers in a summary in a stable order.
func (s Summary) Names() []string {
	names := make([]string, 0, len(s.Results))
	for n := range s.Results {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
