package report

import (
	"fmt"

	"github.com/rookery-mail/rookery/jepsen/checker"
	"github.com/rookery-mail/rookery/jepsen/nemesis"
)

// Check judges a run with the checkers its test names (or its workload's),
// telling the staleness checker when the nemesis cut each node off.
func Check(run Run) (checker.Summary, error) {
	cfg := run.Test.Checker
	def := checker.Default()
	if cfg.LinearizableTimeout <= 0 {
		cfg.LinearizableTimeout = def.LinearizableTimeout
	}
	if cfg.StalenessBound <= 0 {
		cfg.StalenessBound = def.StalenessBound
	}
	cfg.Disconnected = Disconnected(run.Nemesis, run.History.End())
	names := run.Test.Checkers
	if len(names) == 0 {
		var err error
		if names, err = checker.ForWorkload(run.Test.Workload); err != nil {
			return checker.Summary{}, fmt.Errorf("report: %w", err)
		}
	}
	cs, err := checker.New(names, cfg)
	if err != nil {
		return checker.Summary{}, fmt.Errorf("report: %w", err)
	}
	return checker.Run(run.History, cs), nil
}

// Disconnected lists, per node name, when a fault cut it off, stopped it or
// killed it.
func Disconnected(nem []NemesisRecord, end int64) map[string][]checker.Interval {
	out := make(map[string][]checker.Interval)
	for _, s := range Faults(nem, end) {
		for _, n := range s.Fault.Affected() {
			name := nemesis.NodeName(n)
			out[name] = append(out[name], checker.Interval{Start: s.Start, End: s.End})
		}
	}
	return out
}

// Recheck reads a stored run, judges it again, and rewrites results.json
// and timeline.html.
func Recheck(dir string) (checker.Summary, error) {
	run, err := ReadRun(dir)
	if err != nil {
		return checker.Summary{}, err
	}
	if run.Summary, err = Check(run); err != nil {
		return checker.Summary{}, err
	}
	if err := WriteResults(dir, run); err != nil {
		return checker.Summary{}, err
	}
	return run.Summary, nil
}
