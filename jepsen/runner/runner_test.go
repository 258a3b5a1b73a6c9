package runner

import (
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/jepsen/checker"
	"github.com/rookery-mail/rookery/jepsen/cluster"
	"github.com/rookery-mail/rookery/jepsen/nemesis"
	"github.com/rookery-mail/rookery/jepsen/netns"
	"github.com/rookery-mail/rookery/jepsen/report"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// rookeryBinary builds the rookery binary once for the package's tests;
// the runs themselves start real processes, so -short skips them.
func rookeryBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a cluster of rookery processes; skipped with -short")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rookery-jepsen-test")
		if err != nil {
			buildErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		binPath, buildErr = cluster.Build(ctx, dir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// TestRunValidUnderFaults makes a short run of the directory, uid and lmtp
// workloads on three nodes while partitions and kills come and go, and
// expects the cluster as built to be judged valid, its results directory
// complete, and its timeline to render in a browser.
func TestRunValidUnderFaults(t *testing.T) {
	bin := rookeryBinary(t)
	o := Options{
		Store: t.TempDir(), Nodes: 3, Workloads: []string{"directory", "uid", "lmtp"},
		Nemeses:   []nemesis.Kind{nemesis.PartitionOne, nemesis.PartitionLeader, nemesis.Kill},
		TimeLimit: 20 * time.Second, Interval: 5 * time.Second, Rate: 40, Seed: 7, Rookery: bin,
	}
	res := run(t, o)
	if res.Summary.Valid != checker.Valid {
		t.Fatalf("verdict %s, want valid; see %s\n%s", res.Summary.Valid, res.Dir, explain(res.Summary))
	}
	for _, name := range []string{"linearizable", "read-your-writes", "uid", "acknowledged"} {
		if r, ok := res.Summary.Results[name]; !ok || r.Valid != checker.Valid {
			t.Errorf("checker %s: %+v", name, r)
		}
	}
	for _, f := range []string{report.TestFile, report.HistoryFile, report.HistoryText, report.NemesisFile,
		report.ResultsFile, report.TimelineFile, HarnessLog, "nodes/n1/node.log", "nodes/n3/node.toml"} {
		if st, err := os.Stat(filepath.Join(res.Dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v (empty or missing)", f, err)
		}
	}
	stored, err := report.ReadRun(res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.Nemesis) == 0 {
		t.Error("nemesis.jsonl holds no fault: the schedule was not applied")
	}
	renderTimeline(t, filepath.Join(res.Dir, report.TimelineFile))
}

// TestRunCatchesStaleSelect runs the directory workload against nodes whose
// frontends answer SELECT from their local copy however stale, a real bug
// the cluster can be started with, and expects the linearizable checker to
// call the run invalid. The links into one node are slow (1 s), so its
// copy of the directory runs behind the other two, which commit without
// it, and a SELECT through it right after a CREATE or DELETE through
// another frontend meets the stale copy; on an idle machine with fast
// links that window is too short to be hit reliably. There are no faults: they would add operations of
// unknown outcome that can excuse a stale answer. A few seeds make the
// test independent of one run's luck.
func TestRunCatchesStaleSelect(t *testing.T) {
	bin := rookeryBinary(t)
	for seed := int64(1); seed <= 3; seed++ {
		o := Options{
			Store: t.TempDir(), Nodes: 3, Workloads: []string{"directory"}, Clients: 6, Rate: 100,
			TimeLimit: 20 * time.Second, Seed: seed, Rookery: bin, SlowNode: time.Second,
			Env: []string{"ROOKERY_FAULT_SKIP_SYNCED_READ=1"},
		}
		res := run(t, o)
		lin := res.Summary.Results["linearizable"]
		if res.Summary.Valid == checker.Invalid && lin.Valid == checker.Invalid {
			t.Logf("seed %d: invalid as expected, %v", seed, lin.Counts)
			return
		}
		t.Logf("seed %d: verdict %s; trying another schedule", seed, res.Summary.Valid)
	}
	t.Fatal("the checkers never caught a frontend that skips its synced reads")
}

// explain names each checker that is not valid, with its counts and first
// anomalies, so a failing run says why where the test output is all there is.
func explain(s checker.Summary) string {
	var b strings.Builder
	for _, name := range s.Names() {
		r := s.Results[name]
		if r.Valid == checker.Valid {
			continue
		}
		fmt.Fprintf(&b, "%s: %s %v %s\n", name, r.Valid, r.Counts, r.Note)
		for i, a := range r.Anomalies {
			if i == 3 {
				break
			}
			fmt.Fprintf(&b, "  %s %s ops %v: %s\n", a.Kind, a.Key, a.Ops, a.Detail)
		}
	}
	return b.String()
}

func run(t *testing.T, o Options) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("run: %v (results %s)", err, res.Dir)
	}
	return res
}

// renderTimeline opens the timeline in headless Chromium and checks that
// the screenshot shows a drawing, not a blank or broken page.
func renderTimeline(t *testing.T, path string) {
	t.Helper()
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed: the timeline was not rendered")
	}
	shot := filepath.Join(t.TempDir(), "timeline.png")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--window-size=1280,900", "--virtual-time-budget=5000", "--user-data-dir="+t.TempDir(),
		"--screenshot="+shot, "file://"+path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	colors := make(map[[3]uint32]bool)
	inked := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			colors[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
			if r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				inked++
			}
		}
	}
	frac := float64(inked) / float64(b.Dx()*b.Dy())
	if len(colors) < 16 || frac < 0.01 {
		t.Fatalf("the timeline renders as a near-blank page: %d colors, %.2f%% inked", len(colors), 100*frac)
	}
	t.Logf("timeline rendered: %dx%d, %d colors, %.1f%% inked", b.Dx(), b.Dy(), len(colors), 100*frac)
}

// TestRunValidInNetns makes a short run with every node in its own network
// namespace, where partitions (one-way and the leader's) drop packets in
// the kernel while kills and pauses come and go, and expects a valid
// verdict, a cluster that converged after healing, and no namespace left.
func TestRunValidInNetns(t *testing.T) {
	if err := netns.Available(); err != nil {
		t.Skipf("needs root and iproute2: %v", err)
	}
	bin := rookeryBinary(t)
	o := Options{
		Store: keptOnFailure(t), Nodes: 3, Workloads: []string{"directory"}, Net: cluster.NetNetns,
		Nemeses:   []nemesis.Kind{nemesis.PartitionOneWay, nemesis.PartitionLeader, nemesis.Kill, nemesis.Pause},
		TimeLimit: 20 * time.Second, Interval: 4 * time.Second, Rate: 40, Seed: 3, Rookery: bin,
	}
	res := run(t, o)
	if res.Summary.Valid != checker.Valid || !res.Recovered {
		t.Fatalf("verdict %s, recovered %v; want valid and recovered; see %s\n%s",
			res.Summary.Valid, res.Recovered, res.Dir, explain(res.Summary))
	}
	stored, err := report.ReadRun(res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	partitions := 0
	for _, e := range stored.Nemesis {
		// Only the network's own failures count here: a leader-targeted
		// fault with no leader is skipped by design, and a node may have
		// exited by itself before a kill reaches it.
		if strings.Contains(e.Error, "netns") {
			t.Errorf("fault %d (%s) %s: %s", e.Fault.ID, e.Fault.Kind, e.Action, e.Error)
		}
		if e.Fault.Grudge != nil && e.Action == nemesis.Start {
			partitions++
		}
	}
	if partitions == 0 {
		t.Error("no partition was applied")
	}
	m := regexp.MustCompile(`hub (rkj-[0-9a-f]+-[0-9a-f]{4})-hub`).FindStringSubmatch(stored.Test.Options["network"])
	if m == nil {
		t.Fatalf("test.json does not name the hub: %q", stored.Test.Options["network"])
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), m[1]) {
		t.Fatalf("namespaces of %s left after the run:\n%s", m[1], out)
	}
}

// keptOnFailure is a directory for a run's results that is removed when the
// test passes and kept, for reading, when it fails.
func keptOnFailure(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rookery-jepsen-"+t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("results kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}
