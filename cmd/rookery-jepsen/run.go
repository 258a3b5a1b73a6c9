package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rookery-mail/rookery/jepsen/checker"
	"github.com/rookery-mail/rookery/jepsen/cluster"
	"github.com/rookery-mail/rookery/jepsen/nemesis"
	"github.com/rookery-mail/rookery/jepsen/netns"
	"github.com/rookery-mail/rookery/jepsen/report"
	"github.com/rookery-mail/rookery/jepsen/runner"
	"github.com/rookery-mail/rookery/jepsen/workload"
)

// faultSwitches are the fault switches of a rookery binary built with
// -tags faults that --fault turns on, by the environment variable each
// sets in every node.
var faultSwitches = map[string]string{
	"skip-synced-read": "ROOKERY_FAULT_SKIP_SYNCED_READ=1",
}

// runFlags are the flags run and test-all share.
type runFlags struct {
	nodes    *int
	limit    *time.Duration
	interval *time.Duration
	rate     *float64
	clients  *int
	seed     *int64
	store    *string
	rookery  *string
	recovery *time.Duration
	fault    *string
	logLevel *string
	net      *string
	slowNode *time.Duration
}

func addRunFlags(fs *flag.FlagSet) *runFlags {
	return &runFlags{
		nodes:    fs.Int("nodes", 5, "number of nodes"),
		limit:    fs.Duration("time-limit", 60*time.Second, "how long the workload and the faults run"),
		interval: fs.Duration("interval", 10*time.Second, "mean length of a fault and of the quiet between faults"),
		rate:     fs.Float64("rate", 50, "operations a second across all clients (0: unlimited)"),
		clients:  fs.Int("concurrency", 0, "clients per workload (default: the number of nodes)"),
		seed:     fs.Int64("seed", 42, "seed of the schedule and of the clients' choices"),
		store:    fs.String("store", "store", "base `directory` of the results"),
		rookery:  fs.String("rookery", "", "rookery binary (default: build ./cmd/rookery, with -tags faults for --fault)"),
		recovery: fs.Duration("recovery", 90*time.Second, "how long the cluster may take to converge after healing"),
		fault:    fs.String("fault", "", "run a cluster with a known bug, to see the checkers catch it: skip-synced-read (a --rookery binary must be built with -tags faults)"),
		logLevel: fs.String("log-level", "warn", "harness log level on stderr: debug, info, warn, error"),
		net: fs.String("net", cluster.NetProxy, "how nodes are connected and links cut: proxy (loopback behind the harness's "+
			"proxies) or netns (a network namespace per node, packets dropped in the kernel; needs root and iproute2)"),
		slowNode: fs.Duration("slow-node", 0, "hold all traffic into the last node this long, as a slow link would, so that its directory copy runs behind (proxy net only)"),
	}
}

func (f *runFlags) options(stderr io.Writer) (runner.Options, error) {
	o := runner.Options{
		Nodes: *f.nodes, TimeLimit: *f.limit, Interval: *f.interval, Rate: *f.rate, Clients: *f.clients,
		Seed: *f.seed, Store: *f.store, Rookery: *f.rookery, Recovery: *f.recovery, Version: version,
		Progress: stderr, Net: *f.net, SlowNode: *f.slowNode,
	}
	if o.Net != cluster.NetProxy && o.Net != cluster.NetNetns {
		return o, fmt.Errorf("unknown --net %q (proxy or netns)", o.Net)
	}
	if *f.fault != "" {
		env, ok := faultSwitches[*f.fault]
		if !ok {
			return o, fmt.Errorf("unknown --fault %q", *f.fault)
		}
		o.Env = []string{env}
		o.Faults = true
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*f.logLevel)); err != nil {
		return o, err
	}
	o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))
	return o, nil
}

const runUsage = `usage: rookery-jepsen run [flags]

Starts a cluster of rookery processes on loopback behind fault-injecting
proxies (or, with --net netns and root, each in its own network namespace),
drives the workloads while the nemeses inject faults, heals, waits for
recovery, makes the final reads and checks the history. Results go to
STORE/<name>/<start time>/ (STORE/<name>/latest links the newest).

Example:
  rookery-jepsen run --nodes 5 --workload directory --nemesis partition-majorities-ring,kill,pause --time-limit 60s --rate 50 --seed 42

Flags:
`

func runRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, runUsage); fs.PrintDefaults() }
	rf := addRunFlags(fs)
	workloads := fs.String("workload", "directory", "comma-separated workloads: "+strings.Join(workload.Names(), ", "))
	kinds := fs.String("nemesis", "partition-majorities-ring,kill,pause", "comma-separated nemeses; partition and all name groups; none: no faults")
	name := fs.String("name", "", "test name (default: from the workloads and nemeses)")
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	o, err := rf.options(stderr)
	if err == nil {
		o.Workloads = splitList(*workloads)
		o.Name = *name
		o.Nemeses, err = parseNemeses(*kinds)
	}
	if err != nil {
		fmt.Fprintln(stderr, "rookery-jepsen:", err)
		return exitError
	}
	if code, ok := netUnavailable(o.Net, stderr); !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runOne(ctx, o, stdout, stderr)
}

// netUnavailable refuses --net netns up front where namespaces cannot be
// made: the run's verdict is then unknown (exit 2), not an error of the
// cluster.
func netUnavailable(net string, stderr io.Writer) (int, bool) {
	if net != cluster.NetNetns {
		return 0, true
	}
	if err := netns.Available(); err != nil {
		fmt.Fprintln(stderr, "rookery-jepsen:", err)
		return exitUnknown, false
	}
	return 0, true
}

// runOne makes one run and prints its verdict; its exit status is the
// verdict's.
func runOne(ctx context.Context, o runner.Options, stdout, stderr io.Writer) int {
	res, err := runner.Run(ctx, o)
	if res.Dir != "" {
		fmt.Fprintf(stdout, "results: %s\n", res.Dir)
	}
	if err != nil {
		fmt.Fprintln(stderr, "rookery-jepsen:", err)
		if errors.Is(err, netns.ErrUnavailable) {
			return exitUnknown
		}
		return exitError
	}
	if !res.Recovered {
		fmt.Fprintln(stdout, "note: the cluster did not converge after healing; see nodes/*/node.log")
	}
	printSummary(stdout, res.Summary)
	return report.ExitCode(res.Summary.Valid)
}

// nemesisAliases name groups of nemeses on the command line.
var nemesisAliases = map[string]string{
	"partition": "partition-one,partition-majority,partition-leader",
	"all": "partition-one,partition-majority,partition-majorities-ring,partition-bridge,partition-leader," +
		"partition-one-way,kill,kill-leader,pause,pause-leader,failover-lagging",
}

// parseNemeses reads a comma-separated nemesis list, with its aliases;
// "none" or nothing is no faults.
func parseNemeses(s string) ([]nemesis.Kind, error) {
	var parts []string
	for _, f := range splitList(s) {
		if a, ok := nemesisAliases[f]; ok {
			f = a
		}
		if f != "none" {
			parts = append(parts, f)
		}
	}
	return nemesis.ParseKinds(strings.Join(parts, ","))
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// matrix is what test-all runs: each workload against each nemesis set.
var (
	matrixWorkloads = []string{"directory", "read-your-writes", "ownership", "uid", "lmtp", "list"}
	matrixNemeses   = []string{"none", "partition-one,partition-majority", "partition-majorities-ring,partition-bridge",
		"partition-leader,partition-one-way", "kill,pause", "kill-leader,pause-leader"}
)

const testAllUsage = `usage: rookery-jepsen test-all [flags]

Runs every workload against every nemesis set, one run after another, and
prints a table of verdicts. Exit status: the worst verdict (1 invalid over
2 unknown over 0 valid), 254 when a run could not be made.

Flags:
`

func runTestAll(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("test-all", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, testAllUsage); fs.PrintDefaults() }
	rf := addRunFlags(fs)
	workloads := fs.String("workloads", strings.Join(matrixWorkloads, ","), "comma-separated workloads of the matrix")
	nemeses := fs.String("nemeses", strings.Join(matrixNemeses, ";"), "semicolon-separated nemesis sets of the matrix")
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	if code, ok := netUnavailable(*rf.net, stderr); !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	worst, failed := checker.Valid, false
	var rows []string
	for _, set := range strings.Split(*nemeses, ";") {
		for _, w := range splitList(*workloads) {
			if ctx.Err() != nil {
				break
			}
			o, err := rf.options(stderr)
			if err == nil {
				o.Nemeses, err = parseNemeses(set)
			}
			if err != nil {
				fmt.Fprintln(stderr, "rookery-jepsen:", err)
				return exitError
			}
			o.Workloads = []string{w}
			fmt.Fprintf(stdout, "== %s with %s\n", w, set)
			res, err := runner.Run(ctx, o)
			verdict := "error"
			if err != nil {
				failed = true
				fmt.Fprintln(stderr, "rookery-jepsen:", err)
			} else {
				verdict = res.Summary.Valid.String()
				worst = checker.Worst(worst, res.Summary.Valid)
				printSummary(stdout, res.Summary)
			}
			rows = append(rows, fmt.Sprintf("%-18s %-45s %-8s %s", w, set, verdict, res.Dir))
		}
	}
	fmt.Fprintln(stdout, "\nworkload           nemeses                                       verdict  results")
	for _, r := range rows {
		fmt.Fprintln(stdout, r)
	}
	if failed || ctx.Err() != nil {
		return exitError
	}
	return report.ExitCode(worst)
}
