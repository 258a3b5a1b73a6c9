package report

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/jepsen/checker"
	"github.com/rookery-mail/rookery/jepsen/history"
	"github.com/rookery-mail/rookery/jepsen/nemesis"
)

func directoryRun(selectAfterCreate history.Outcome, errText string) Run {
	h := history.History{
		{Index: 0, Process: 0, F: history.FCreate, Key: "a", Outcome: history.OK, Node: "n1", Invoke: 1000, Complete: 2000},
		{Index: 1, Process: 0, F: history.FSelect, Key: "a", Outcome: selectAfterCreate, Error: errText, Node: "n2", Invoke: 3000, Complete: 4000},
		{Index: 2, Process: 1, F: history.FDeliver, Key: "INBOX", Outcome: history.Info, Node: "n3", Invoke: 1500, Complete: 5000,
			Value: history.Value{MessageID: "<m1@test>"}},
	}
	fault := nemesis.Fault{ID: 0, Kind: nemesis.PartitionOne, Grudge: nemesis.Isolate(3, 1)}
	return Run{
		Test: Test{Name: "directory", Version: "test", Seed: 42, Nodes: 3, Workload: "directory",
			Nemeses: []nemesis.Kind{nemesis.PartitionOne}, TimeLimit: time.Second, Start: time.Unix(0, 0).UTC()},
		History: h,
		Nemesis: []NemesisRecord{{Time: 1200, Action: nemesis.Start, Fault: fault}, {Time: 3500, Action: nemesis.Stop, Fault: fault}},
	}
}

func storeAndRecheck(t *testing.T, run Run) (string, checker.Summary) {
	t.Helper()
	dir, err := NewDir(t.TempDir(), run.Test.Name, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteRun(dir, run); err != nil {
		t.Fatal(err)
	}
	s, err := Recheck(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, s
}

func TestRecheckValidRun(t *testing.T) {
	dir, s := storeAndRecheck(t, directoryRun(history.OK, ""))
	if s.Valid != checker.Valid || ExitCode(s.Valid) != ExitValid {
		t.Fatalf("summary %+v", s)
	}
	for _, f := range []string{TestFile, HistoryFile, HistoryText, NemesisFile, ResultsFile, TimelineFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("missing %s: %v", f, err)
		}
	}
	if target, err := os.Readlink(filepath.Join(filepath.Dir(dir), "latest")); err != nil || target != filepath.Base(dir) {
		t.Fatalf("latest -> %q, %v", target, err)
	}
	html, _ := os.ReadFile(filepath.Join(dir, TimelineFile))
	for _, want := range []string{"nemesis partition-one", "partition-one n1,n2,n3", "deliver INBOX"} {
		if !strings.Contains(string(html), want) {
			t.Fatalf("timeline lacks %q", want)
		}
	}
	run, err := ReadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	if run.Summary.Valid != checker.Valid || len(run.Nemesis) != 2 || run.Test.Seed != 42 || len(run.History) != 3 {
		t.Fatalf("read back %+v", run)
	}
}

func TestRecheckInvalidRun(t *testing.T) {
	dir, s := storeAndRecheck(t, directoryRun(history.Fail, history.ErrorNonexistent))
	if s.Valid != checker.Invalid || ExitCode(s.Valid) != ExitInvalid {
		t.Fatalf("summary %+v", s)
	}
	b, _ := os.ReadFile(filepath.Join(dir, ResultsFile))
	var stored struct {
		Valid json.RawMessage `json:"valid"`
	}
	if err := json.Unmarshal(b, &stored); err != nil || string(stored.Valid) != "false" {
		t.Fatalf("results.json valid = %s (%v)", stored.Valid, err)
	}
}

func TestUnknownExitAndChecker(t *testing.T) {
	run := directoryRun(history.OK, "")
	run.Test.Checkers = []string{"acknowledged"}
	_, s := storeAndRecheck(t, run)
	if s.Valid != checker.Unknown || ExitCode(s.Valid) != ExitUnknown {
		t.Fatalf("summary %+v", s)
	}
	run.Test.Checkers = []string{"bogus"}
	if _, err := Check(run); !errors.Is(err, checker.ErrUnknownChecker) {
		t.Fatalf("bogus checker: %v", err)
	}
}

func TestDisconnectedFromNemesisLog(t *testing.T) {
	run := directoryRun(history.OK, "")
	d := Disconnected(run.Nemesis, 10_000)
	want := checker.Interval{Start: 1200, End: 3500}
	for _, n := range []string{"n1", "n2", "n3"} {
		if len(d[n]) != 1 || d[n][0] != want {
			t.Fatalf("%s: %v", n, d[n])
		}
	}
	open := Disconnected(run.Nemesis[:1], 10_000)
	if open["n2"][0].End != 10_000 {
		t.Fatalf("unstopped fault: %v", open)
	}
}

func TestReadRunRejectsDamage(t *testing.T) {
	dir, _ := storeAndRecheck(t, directoryRun(history.OK, ""))
	if err := os.WriteFile(filepath.Join(dir, HistoryFile), []byte("{\"index\":0,\"f\":\"create\",\"outcome\":\"perhaps\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Recheck(dir); !errors.Is(err, ErrBadRun) || !errors.Is(err, history.ErrBadHistory) {
		t.Fatalf("damaged history: %v", err)
	}
	if _, err := ReadRun(t.TempDir()); !errors.Is(err, ErrBadRun) {
		t.Fatalf("empty dir: %v", err)
	}
}
