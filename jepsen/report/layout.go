// Package report writes and reads a run's results directory, in the layout
// Jepsen uses: store/<test>/<start time>/ with the options, the history, the
// nemesis log, the verdicts, a timeline and each node's log and data.
package report

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rookery-mail/rookery/jepsen/checker"
	"github.com/rookery-mail/rookery/jepsen/history"
	"github.com/rookery-mail/rookery/jepsen/nemesis"
)

// Files of a results directory.
const (
	TestFile     = "test.json"
	HistoryFile  = "history.jsonl"
	HistoryText  = "history.txt"
	NemesisFile  = "nemesis.jsonl"
	ResultsFile  = "results.json"
	TimelineFile = "timeline.html"
	NodesDir     = "nodes" // nodes/<name>/ holds a node's log and data
	latestLink   = "latest"
)

// Exit statuses of a run or a check, as Jepsen's.
const (
	ExitValid   = 0
	ExitInvalid = 1
	ExitUnknown = 2
)

// ExitCode maps a verdict to the process exit status.
func ExitCode(v checker.Validity) int {
	switch v {
	case checker.Valid:
		return ExitValid
	case checker.Invalid:
		return ExitInvalid
	}
	return ExitUnknown
}

// Test is test.json: what was run, so that a check can judge it again.
type Test struct {
	Name      string            `json:"name"`
	Version   string            `json:"version"`
	Seed      int64             `json:"seed"`
	Nodes     int               `json:"nodes"`
	Workload  string            `json:"workload"`
	Nemeses   []nemesis.Kind    `json:"nemeses"`
	TimeLimit time.Duration     `json:"time_limit_ns"`
	Rate      float64           `json:"rate"`
	Checkers  []string          `json:"checkers"`
	Checker   checker.Config    `json:"checker"`
	Options   map[string]string `json:"options,omitempty"`
	Start     time.Time         `json:"start"`
}

// NemesisRecord is one line of nemesis.jsonl: a fault started or stopped,
// as the runner applied it, on the history's clock.
type NemesisRecord struct {
	Time   int64          `json:"time_ns"`
	Action nemesis.Action `json:"action"`
	Fault  nemesis.Fault  `json:"fault"`
	Error  string         `json:"error,omitempty"`
}

// Run is everything a results directory holds that can be checked.
type Run struct {
	Test    Test
	History history.History
	Nemesis []NemesisRecord
	Summary checker.Summary
}

// NewDir makes store/<name>/<start time>/ under base and points
// store/<name>/latest at it.
func NewDir(base, name string, start time.Time) (string, error) {
	parent := filepath.Join(base, name)
	dir := filepath.Join(parent, start.UTC().Format("20060102T150405.000Z"))
	if err := os.MkdirAll(filepath.Join(dir, NodesDir), 0o755); err != nil {
		return "", fmt.Errorf("report: make results directory: %w", err)
	}
	link := filepath.Join(parent, latestLink)
	if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("report: replace latest link: %w", err)
	}
	if err := os.Symlink(filepath.Base(dir), link); err != nil {
		return "", fmt.Errorf("report: link latest: %w", err)
	}
	return dir, nil
}

// NodeDir is where a node of the run keeps its log and data.
func NodeDir(dir string, node int) string {
	return filepath.Join(dir, NodesDir, nemesis.NodeName(node))
}
