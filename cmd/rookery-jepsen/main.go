// Command rookery-jepsen tests a Rookery cluster under faults and judges the
// history it records. Exit status: 0 valid, 1 invalid, 2 unknown, 254 when
// the command itself could not run.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/rookery-mail/rookery/jepsen/checker"
	"github.com/rookery-mail/rookery/jepsen/nemesis"
	"github.com/rookery-mail/rookery/jepsen/report"
)

const usage = `rookery-jepsen: test a Rookery cluster under faults

Usage:
  rookery-jepsen run [flags]       start a cluster, drive workloads under faults, check; see run --help
  rookery-jepsen test-all [flags]  run a matrix of workloads and nemeses
  rookery-jepsen check DIR         judge a stored run again; rewrites results.json and timeline.html
  rookery-jepsen schedule [flags]  print the fault schedule a seed gives
  rookery-jepsen cleanup [--all]   remove network namespaces that --net netns runs left behind
  rookery-jepsen version           print the version

Exit status: 0 valid, 1 invalid, 2 unknown, 254 error.
`

// exitError is the status for a command that could not run at all, kept
// apart from the verdicts.
const exitError = 254

// exitUnknown is the status of an unknown verdict, also given when a run
// cannot be made on this host as asked (--net netns without root).
const exitUnknown = 2

var version = "dev"

var errUsage = errors.New("usage")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError
	}
	switch args[0] {
	case "run":
		return runRun(args[1:], stdout, stderr)
	case "test-all":
		return runTestAll(args[1:], stdout, stderr)
	case "check":
		return runCheck(args[1:], stdout, stderr)
	case "schedule":
		if err := runSchedule(args[1:], stdout, stderr); err != nil {
			if !errors.Is(err, errUsage) {
				fmt.Fprintln(stderr, "rookery-jepsen:", err)
			}
			return exitError
		}
		return 0
	case "cleanup":
		return runCleanup(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "rookery-jepsen", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "rookery-jepsen: unknown command %q\n\n%s", args[0], usage)
	return exitError
}

func runCheck(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprint(stderr, "usage: rookery-jepsen check DIR\n")
		return exitError
	}
	s, err := report.Recheck(args[0])
	if err != nil {
		fmt.Fprintln(stderr, "rookery-jepsen:", err)
		return exitError
	}
	printSummary(stdout, s)
	return report.ExitCode(s.Valid)
}

// printSummary prints one line per checker, then its first anomalies.
func printSummary(w io.Writer, s checker.Summary) {
	for _, name := range s.Names() {
		r := s.Results[name]
		fmt.Fprintf(w, "%-18s %-8s %s\n", name, r.Valid, formatCounts(r.Counts))
		if r.Note != "" {
			fmt.Fprintf(w, "    note: %s\n", r.Note)
		}
		for i, a := range r.Anomalies {
			if i == 3 {
				fmt.Fprintf(w, "    ... %d more in results.json\n", len(r.Anomalies)-i)
				break
			}
			fmt.Fprintf(w, "    %s %q ops %v: %s\n", a.Kind, a.Key, a.Ops, a.Detail)
		}
	}
	fmt.Fprintf(w, "verdict: %s\n", s.Valid)
}

func formatCounts(c map[string]int) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, c[k])
	}
	return strings.Join(parts, " ")
}

func runSchedule(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("schedule", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodes := fs.Int("nodes", 5, "number of nodes")
	kinds := fs.String("nemesis", "partition-majorities-ring,kill,pause", "comma-separated nemeses")
	limit := fs.Duration("time-limit", 60*time.Second, "length of the run")
	interval := fs.Duration("interval", 10*time.Second, "mean length of a fault and of the quiet between faults")
	seed := fs.Int64("seed", 42, "seed of the schedule")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	ks, err := nemesis.ParseKinds(*kinds)
	if err != nil {
		return err
	}
	evs, err := nemesis.Plan(nemesis.Config{Nodes: *nodes, Kinds: ks, Interval: *interval, Duration: *limit, Seed: *seed})
	if err != nil {
		return err
	}
	for _, e := range evs {
		fmt.Fprintf(stdout, "%9s  %-5s #%-3d %-26s %s\n", e.At.Round(time.Millisecond), e.Action, e.Fault.ID, e.Fault.Kind, targets(e.Fault))
	}
	return nil
}

func targets(f nemesis.Fault) string {
	if f.Kind.TargetsLeader() {
		return "the leader at the time"
	}
	if f.Grudge == nil {
		names := make([]string, len(f.Nodes))
		for i, n := range f.Nodes {
			names[i] = nemesis.NodeName(n)
		}
		return strings.Join(names, ",")
	}
	var cuts []string
	for _, l := range f.Grudge.Links() {
		cuts = append(cuts, nemesis.NodeName(l.From)+"->"+nemesis.NodeName(l.To))
	}
	return "cut " + strings.Join(cuts, " ")
}
