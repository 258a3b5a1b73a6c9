package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/jepsen/history"
	"github.com/rookery-mail/rookery/jepsen/report"
)

// storedRun writes a two-operation directory run whose select after the
// create either finds the name or does not.
func storedRun(t *testing.T, found bool) string {
	t.Helper()
	sel := history.Op{Index: 1, Process: 0, F: history.FSelect, Key: "a", Outcome: history.OK, Node: "n2", Invoke: 30, Complete: 40}
	if !found {
		sel.Outcome, sel.Error = history.Fail, history.ErrorNonexistent
	}
	run := report.Run{
		Test: report.Test{Name: "directory", Workload: "directory", Nodes: 3, Seed: 1},
		History: history.History{
			{Index: 0, Process: 0, F: history.FCreate, Key: "a", Outcome: history.OK, Node: "n1", Invoke: 10, Complete: 20},
			sel,
		},
	}
	dir, err := report.NewDir(t.TempDir(), "directory", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := report.WriteRun(dir, run); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCheckExitStatus(t *testing.T) {
	for _, tc := range []struct {
		found bool
		code  int
		word  string
	}{{true, 0, "verdict: valid"}, {false, 1, "verdict: invalid"}} {
		var out, errOut bytes.Buffer
		code := run([]string{"check", storedRun(t, tc.found)}, &out, &errOut)
		if code != tc.code || !strings.Contains(out.String(), tc.word) {
			t.Fatalf("found=%v: exit %d, stdout:\n%s\nstderr:\n%s", tc.found, code, out.String(), errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"check", t.TempDir()}, &out, &errOut); code != exitError {
		t.Fatalf("empty directory: exit %d", code)
	}
}

func TestSchedule(t *testing.T) {
	var a, b, errOut bytes.Buffer
	args := []string{"schedule", "--nodes", "5", "--nemesis", "partition-bridge,kill", "--time-limit", "30s", "--interval", "5s", "--seed", "7"}
	if code := run(args, &a, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	run(args, &b, &errOut)
	if a.String() != b.String() || !strings.Contains(a.String(), "partition-bridge") {
		t.Fatalf("schedule:\n%s\nagain:\n%s", a.String(), b.String())
	}
	if code := run([]string{"schedule", "--nemesis", "flood"}, &a, &errOut); code != exitError {
		t.Fatalf("unknown nemesis: exit %d", code)
	}
}
