package directory

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rookery-mail/rookery/fsm"
)

// BenchmarkApply measures writes on three voters on loopback with fsync on:
// Reserve+Activate pairs through the leader's Apply, beside raw raft.Apply
// of a no-op entry, at concurrency 1 and 64.
//
//	go test -run '^$' -bench BenchmarkApply -benchtime 2000x ./directory
func BenchmarkApply(b *testing.B) {
	c := startCluster(b, 3)
	leader := c.leader()
	registerBackend(b, leader, "b1")
	noop, err := fsm.Encode(fsm.Noop{})
	if err != nil {
		b.Fatal(err)
	}
	var seq atomic.Int64
	rawNoop := func(ctx context.Context) error {
		return leader.raft.Apply(noop, 0).Error()
	}
	pair := func(ctx context.Context) error {
		name := "shared/bench/" + strconv.FormatInt(seq.Add(1), 10)
		res, err := leader.Apply(ctx, reserve(name, "b1", "r"))
		if err == nil {
			err = res.Err
		}
		if err != nil {
			return err
		}
		res, err = leader.Apply(ctx, fsm.Activate{Name: name, Reservation: "r"})
		if err == nil {
			err = res.Err
		}
		return err
	}
	for _, conc := range []int{1, 64} {
		b.Run(fmt.Sprintf("raw_noop/c%d", conc), func(b *testing.B) { runConcurrent(b, conc, "applies/s", rawNoop) })
		b.Run(fmt.Sprintf("reserve_activate/c%d", conc), func(b *testing.B) { runConcurrent(b, conc, "pairs/s", pair) })
	}
}

// runConcurrent runs op b.N times from conc goroutines and reports the rate
// and the p50 and p99 latency of one op.
func runConcurrent(b *testing.B, conc int, unit string, op func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if err := op(ctx); err != nil {
					failed.Store(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), unit)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
}

// BenchmarkSnapshotCatchUp measures how long a new non-voter takes to catch
// up from a snapshot of ROOKERY_BENCH_MAILBOXES mailboxes (default
// 1,000,000). The leader (a single voter, fsync on) is populated through
// raft with many Reserve entries in flight and 1024-entry batches, then
// snapshots; each iteration starts a fresh non-voter and times from Open
// until its FSM has applied the leader's index.
//
//	go test -run '^$' -bench BenchmarkSnapshotCatchUp -benchtime 1x -timeout 30m ./directory
func BenchmarkSnapshotCatchUp(b *testing.B) {
	count := 1_000_000
	if v := os.Getenv("ROOKERY_BENCH_MAILBOXES"); v != "" {
		var err error
		if count, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	c := &testCluster{t: b, nodes: map[string]*Node{}, cfgs: map[string]Config{}}
	b.Cleanup(c.closeAll)
	cfg := testConfig(b, "v1", RoleDirectory)
	cfg.BootstrapExpect = 1
	cfg.MaxAppendEntries = 1024
	cfg.SnapshotThreshold = 1 << 40 // only the explicit snapshot below
	cfg.SnapshotInterval = time.Hour
	cfg.TrailingLogs = 1024
	cfg.ReservationTTL = 24 * time.Hour // the reservations must outlive the run
	cfg.ReconcileInterval = 30 * time.Second
	leader := c.start(cfg)
	c.leader()
	registerBackend(b, leader, "b1")

	start := time.Now()
	populate(b, leader, count)
	b.Logf("populated %d mailboxes in %v", count, time.Since(start))
	start = time.Now()
	if err := leader.raft.Snapshot().Error(); err != nil {
		b.Fatal(err)
	}
	b.Logf("snapshot taken in %v", time.Since(start))
	target := leader.fsm.AppliedIndex()

	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		f := c.start(testConfig(b, fmt.Sprintf("f%d", i), RoleFrontend))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		if err := f.WaitApplied(ctx, target); err != nil {
			b.Fatal(err)
		}
		cancel()
		b.ReportMetric(time.Since(start).Seconds(), "catchup_s")
		if got, want := f.fsm.MailboxCount(), leader.fsm.MailboxCount(); got != want {
			b.Fatalf("non-voter has %d mailboxes, leader %d", got, want)
		}
		b.StopTimer()
		c.close(f.ID())
		b.StartTimer()
	}
}

// populate reserves count mailboxes through raft, keeping many entries in
// flight so that raft writes them in large batches.
func populate(b *testing.B, leader *Node, count int) {
	const inFlight = 8192
	futures := make(chan raft.ApplyFuture, inFlight)
	var wg sync.WaitGroup
	var failed atomic.Value
	wg.Add(1)
	go func() {
		defer wg.Done()
		for f := range futures {
			if err := f.Error(); err != nil {
				failed.Store(err)
			} else if r, ok := f.Response().(fsm.Result); ok && r.Err != nil {
				failed.Store(r.Err)
			}
		}
	}()
	now := time.Now().UnixNano()
	for i := range count {
		data, err := fsm.Encode(fsm.Reserve{Name: fmt.Sprintf("shared/m%07d", i), Backend: "b1",
			Reservation: "r", At: now})
		if err != nil {
			b.Fatal(err)
		}
		futures <- leader.raft.Apply(data, 0)
	}
	close(futures)
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
}
