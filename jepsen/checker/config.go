package checker

import (
	"fmt"
	"sort"
	"time"
)

// Config holds what the checkers need beyond the history itself.
type Config struct {
	// LinearizableTimeout bounds the linearizability search.
	LinearizableTimeout time.Duration `json:"linearizable_timeout_ns"`
	// StalenessBound is how far a connected frontend's LIST may lag.
	StalenessBound time.Duration `json:"staleness_bound_ns"`
	// Disconnected lists, per node, when faults cut it off.
	Disconnected map[string][]Interval `json:"-"`
}

// Default is the configuration a run uses unless told otherwise; the
// staleness bound is the frontends' default local-read bound.
func Default() Config {
	return Config{LinearizableTimeout: time.Minute, StalenessBound: 5 * time.Second}
}

// Validate reports a configuration no checker can use.
func (c Config) Validate() error {
	if c.LinearizableTimeout <= 0 {
		return fmt.Errorf("%w: linearizable timeout %v", ErrBadConfig, c.LinearizableTimeout)
	}
	if c.StalenessBound <= 0 {
		return fmt.Errorf("%w: staleness bound %v", ErrBadConfig, c.StalenessBound)
	}
	return nil
}

var constructors = map[string]func(Config) Checker{
	"linearizable":     func(c Config) Checker { return Linearizable{Timeout: c.LinearizableTimeout} },
	"read-your-writes": func(Config) Checker { return ReadYourWrites{} },
	"ownership":        func(Config) Checker { return Ownership{} },
	"uid":              func(Config) Checker { return UID{} },
	"acknowledged":     func(Config) Checker { return Acknowledged{} },
	"list-staleness": func(c Config) Checker {
		return ListStaleness{Bound: c.StalenessBound, Disconnected: c.Disconnected}
	},
}

// workloadCheckers names the checkers that judge each workload's history.
var workloadCheckers = map[string][]string{
	"directory":        {"linearizable", "read-your-writes"},
	"read-your-writes": {"read-your-writes"},
	"ownership":        {"ownership"},
	"uid":              {"uid", "acknowledged"},
	"lmtp":             {"acknowledged"},
	"list":             {"list-staleness"},
}

// Names lists every checker name.
func Names() []string {
	out := make([]string, 0, len(constructors))
	for n := range constructors {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ForWorkload lists the checkers that judge a workload's history.
func ForWorkload(workload string) ([]string, error) {
	names, ok := workloadCheckers[workload]
	if !ok {
		return nil, fmt.Errorf("%w: workload %q", ErrUnknownChecker, workload)
	}
	return names, nil
}

// New builds the named checkers.
func New(names []string, cfg Config) ([]Checker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	out := make([]Checker, 0, len(names))
	for _, n := range names {
		mk, ok := constructors[n]
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrUnknownChecker, n)
		}
		out = append(out, mk(cfg))
	}
	return out, nil
}
