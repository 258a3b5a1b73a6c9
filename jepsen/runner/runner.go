// Package runner makes one jepsen run: it starts a cluster, drives the
// workloads while a nemesis applies its schedule, heals, waits for the
// cluster to recover, makes the final reads, and writes and checks the
// results directory.
package runner

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rookery-mail/rookery/jepsen/checker"
	"github.com/rookery-mail/rookery/jepsen/cluster"
	"github.com/rookery-mail/rookery/jepsen/history"
	"github.com/rookery-mail/rookery/jepsen/nemesis"
	"github.com/rookery-mail/rookery/jepsen/netns"
	"github.com/rookery-mail/rookery/jepsen/report"
	"github.com/rookery-mail/rookery/jepsen/workload"
)

// HarnessLog is the results directory's log of the proxies, the nemesis and
// the clients.
const HarnessLog = "harness.log"

// Options describe one run.
type Options struct {
	Name      string // test name: the results go to Store/<Name>/<start>/
	Store     string // base of the results, "store" by default
	Nodes     int
	Workloads []string
	Nemeses   []nemesis.Kind
	TimeLimit time.Duration // of the workload and the schedule
	Interval  time.Duration // mean fault length and quiet between faults
	Rate      float64       // operations a second across all clients; 0: unlimited
	Clients   int           // concurrent clients per workload
	Seed      int64
	// Recovery bounds the wait, after healing, for every node to agree on
	// the leader and the applied index.
	Recovery time.Duration
	// Net is how the nodes are connected and faults cut links:
	// cluster.NetProxy (the default) or cluster.NetNetns (root only).
	Net string
	// SlowNode holds all traffic into the last node this long for the
	// whole workload, as a slow link would: its copy of the directory then
	// runs behind the others'. Proxy net only.
	SlowNode time.Duration
	Rookery  string   // binary; built from ./cmd/rookery when empty
	Env      []string // added to every node's environment
	// Faults: the nodes need the fault switches that Env turns on, so the
	// binary is built with cluster.FaultsTag, and a given one must be.
	Faults   bool
	Version  string
	Progress io.Writer // a progress line every few seconds; nil: none
	Logger   *slog.Logger
}

func (o *Options) defaults() error {
	if o.Store == "" {
		o.Store = "store"
	}
	if o.Net == "" {
		o.Net = cluster.NetProxy
	}
	if o.SlowNode > 0 && o.Net != cluster.NetProxy {
		return fmt.Errorf("%w: a slow node needs the proxy net", ErrBadOptions)
	}
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	if o.Clients <= 0 {
		o.Clients = o.Nodes
	}
	if o.Recovery <= 0 {
		o.Recovery = 90 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Name == "" {
		kinds := make([]string, len(o.Nemeses))
		for i, k := range o.Nemeses {
			kinds[i] = string(k)
		}
		o.Name = strings.Join(o.Workloads, "+") + "-" + strings.Join(kinds, "+")
		if len(kinds) == 0 {
			o.Name += "none"
		}
	}
	switch {
	case o.Nodes < 1 || o.Nodes > 9:
		return fmt.Errorf("%w: %d nodes (1 to 9)", ErrBadOptions, o.Nodes)
	case len(o.Workloads) == 0:
		return fmt.Errorf("%w: no workload", ErrBadOptions)
	case o.TimeLimit <= 0:
		return fmt.Errorf("%w: time limit %v", ErrBadOptions, o.TimeLimit)
	case o.Net != cluster.NetProxy && o.Net != cluster.NetNetns:
		return fmt.Errorf("%w: --net %q (proxy or netns)", ErrBadOptions, o.Net)
	}
	if o.Net == cluster.NetNetns {
		// Refused before anything is built or started.
		return netns.Available()
	}
	return nil
}

// Result is what a run produced.
type Result struct {
	Dir     string
	Summary checker.Summary
	// Recovered is false when the cluster did not converge after healing.
	Recovered bool
}

// Run makes one run. An error means the run could not be made or checked;
// a run that was made always leaves its results directory.
func Run(ctx context.Context, o Options) (Result, error) {
	if err := o.defaults(); err != nil {
		return Result{}, err
	}
	wls := make([]workload.Workload, 0, len(o.Workloads))
	for _, name := range o.Workloads {
		w, err := workload.New(name, o.Clients)
		if err != nil {
			return Result{}, err
		}
		wls = append(wls, w)
	}
	checkers, err := checkersFor(o.Workloads)
	if err != nil {
		return Result{}, err
	}
	events, err := nemesis.Plan(nemesis.Config{Nodes: o.Nodes, Kinds: o.Nemeses, Interval: o.Interval, Duration: o.TimeLimit, Seed: o.Seed})
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	dir, err := report.NewDir(o.Store, o.Name, start)
	if err != nil {
		return Result{}, err
	}
	res := Result{Dir: dir}
	logFile, err := os.Create(filepath.Join(dir, HarnessLog))
	if err != nil {
		return res, err
	}
	defer logFile.Close()
	// The proxies, the nemesis and the clients log here; o.Logger gets only
	// what the person running the test must see.
	hlog := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if o.Rookery == "" {
		var tags []string
		if o.Faults {
			tags = append(tags, cluster.FaultsTag)
		}
		bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		o.Rookery, err = cluster.Build(bctx, dir, tags...)
		cancel()
		if err != nil {
			return res, err
		}
		defer os.Remove(o.Rookery)
	} else if o.Faults {
		// A binary without the switches would ignore Env and be judged
		// valid: the run would prove nothing about the checkers.
		has, err := cluster.HasFaults(ctx, o.Rookery)
		if err != nil {
			return res, err
		}
		if !has {
			return res, fmt.Errorf("%w: %s was built without -tags %s", ErrBadOptions, o.Rookery, cluster.FaultsTag)
		}
	}
	test := report.Test{
		Name: o.Name, Version: o.Version, Seed: o.Seed, Nodes: o.Nodes,
		Workload: strings.Join(o.Workloads, ","), Nemeses: o.Nemeses, TimeLimit: o.TimeLimit,
		Rate: o.Rate, Checkers: checkers, Checker: checker.Default(), Start: start,
		Options: map[string]string{
			"interval": o.Interval.String(), "clients": fmt.Sprint(o.Clients),
			"recovery": o.Recovery.String(), "env": strings.Join(o.Env, " "), "net": o.Net,
			"slow_node": o.SlowNode.String(),
		},
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	c, err := cluster.Start(sctx, cluster.Config{Nodes: o.Nodes, Rookery: o.Rookery,
		Dir: filepath.Join(dir, report.NodesDir), Env: o.Env, Net: o.Net, Logger: hlog})
	cancel()
	if err != nil {
		return res, err
	}
	defer func() {
		if err := c.Close(); err != nil {
			o.Logger.Warn("stopping the cluster", "error", err)
		}
	}()
	test.Options["network"] = c.NetworkDescription()

	rec := history.NewRecorder()
	env := workload.NewEnv(clientNodes(c), c.Secret(), rec, o.Rate, o.Seed, hlog)
	env.AddUser = c.AddUser
	setupCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	for _, w := range wls {
		if err = w.Setup(setupCtx, env); err != nil {
			break
		}
	}
	cancel()
	if err != nil {
		return res, err
	}

	if o.SlowNode > 0 {
		slow := c.Nodes[len(c.Nodes)-1]
		for _, n := range c.Nodes[:len(c.Nodes)-1] {
			c.Faults.Delay(n.Name, slow.Name, o.SlowNode)
		}
	}
	rec = history.NewRecorder() // the run's clock starts with the workload
	env.Rec = rec
	faults := newFaultRunner(c, rec, hlog)
	res.Recovered = drive(ctx, o, c, env, wls, events, faults)
	test.Options["recovered"] = fmt.Sprint(res.Recovered)

	run := report.Run{Test: test, History: rec.History(), Nemesis: faults.records()}
	if err := report.WriteRun(dir, run); err != nil {
		return res, err
	}
	if run.Summary, err = report.Check(run); err != nil {
		return res, err
	}
	res.Summary = run.Summary
	return res, report.WriteResults(dir, run)
}

// drive runs the workloads and the schedule for the time limit, heals,
// waits for recovery and makes the final reads. It reports whether the
// cluster recovered.
func drive(ctx context.Context, o Options, c *cluster.Cluster, env *workload.Env, wls []workload.Workload, events []nemesis.Event, faults *faultRunner) bool {
	wctx, cancel := context.WithTimeout(ctx, o.TimeLimit)
	defer cancel()
	var wg sync.WaitGroup
	for _, w := range wls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.Run(wctx, env)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		faults.run(wctx, events)
	}()
	stopProgress := progress(o.Progress, env.Rec, faults)
	wg.Wait()
	stopProgress()

	if err := faults.healAll(); err != nil {
		o.Logger.Warn("healing the cluster", "error", err)
	}
	rctx, rcancel := context.WithTimeout(ctx, o.Recovery)
	err := c.WaitRecovered(rctx)
	rcancel()
	if err != nil {
		o.Logger.Warn("cluster did not recover", "error", err)
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "cluster did not recover within %v: %v\n", o.Recovery, err)
		}
	}
	fctx, fcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer fcancel()
	for _, w := range wls {
		w.Final(fctx, env)
	}
	return err == nil
}

// progress prints elapsed time, operations and faults in force every five
// seconds until the returned function is called.
func progress(w io.Writer, rec *history.Recorder, faults *faultRunner) func() {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				h := rec.History()
				ok := len(h.Filter(func(op history.Op) bool { return op.Outcome == history.OK }))
				active := faults.activeKinds()
				slices.Sort(active)
				fmt.Fprintf(w, "%6s  ops %d (ok %d)  faults: %s\n", time.Duration(rec.Now()).Round(time.Second),
					len(h), ok, orNone(strings.Join(active, " ")))
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// clientNodes is how the workloads reach each node: through its proxies.
func clientNodes(c *cluster.Cluster) []workload.Node {
	out := make([]workload.Node, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = workload.Node{Name: n.Name, IMAP: n.Proxy.IMAP, LMTP: n.Proxy.LMTP, API: n.Proxy.API}
	}
	return out
}

// checkersFor is the union of the workloads' checkers, in order.
func checkersFor(workloads []string) ([]string, error) {
	var out []string
	for _, w := range workloads {
		names, err := checker.ForWorkload(w)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out, nil
}
