package fsm

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// Benchmarks at the directory's target size. Run them with, e.g.:
//
//	go test ./fsm/ -run '^$' -bench . -benchtime 1x        (sizes and times)
//	go test ./fsm/ -run '^$' -bench 'Lookup|Apply' -benchtime 2s

const benchMailboxes = 1_000_000

var benchFolders = []string{"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive", "Archive/2024", "INBOX/work", "INBOX/lists", "Notes"}

// benchName is the i-th mailbox name: ten folders for each of 100,000 users.
func benchName(i int) string {
	return fmt.Sprintf("user/u%06d@example.com/%s", i/len(benchFolders), benchFolders[i%len(benchFolders)])
}

// buildDirectory applies Reserve and Activate for n mailboxes through
// ApplyBatch, as Raft would deliver a burst of committed entries.
func buildDirectory(tb testing.TB, n int) *FSM {
	f := New()
	var index uint64
	batch := make([]*raft.Log, 0, 1024)
	flush := func() {
		for i, out := range f.ApplyBatch(batch) {
			if r := out.(Result); r.Err != nil {
				tb.Fatalf("entry %d: %v", batch[i].Index, r.Err)
			}
		}
		batch = batch[:0]
	}
	add := func(cmd Command) {
		data, err := Encode(cmd)
		if err != nil {
			tb.Fatal(err)
		}
		index++
		batch = append(batch, &raft.Log{Index: index, Type: raft.LogCommand, Data: data})
		if len(batch) == cap(batch) {
			flush()
		}
	}
	add(BackendRegister{ID: "backend-1", Weight: 1})
	add(BackendRegister{ID: "backend-2", Weight: 1})
	for i := 0; i < n; i++ {
		name := benchName(i)
		res := fmt.Sprintf("%016x-%016x", i, i*7919)
		add(Reserve{Name: name, Backend: "backend-1", Replicas: []string{"backend-2"}, Reservation: res, At: int64(i)})
		add(Activate{Name: name, Reservation: res})
	}
	flush()
	return f
}

var (
	sharedOnce sync.Once
	shared     *FSM
)

// sharedDirectory is one 1M-mailbox directory for the read-only benchmarks.
func sharedDirectory(b *testing.B) *FSM {
	sharedOnce.Do(func() {
		start := time.Now()
		shared = buildDirectory(b, benchMailboxes)
		b.Logf("built %d mailboxes in %v", benchMailboxes, time.Since(start))
	})
	return shared
}

func percentile(d []time.Duration, p float64) float64 {
	slices.Sort(d)
	return float64(d[int(float64(len(d)-1)*p)].Nanoseconds())
}

func BenchmarkLookup1M(b *testing.B) {
	f := sharedDirectory(b)
	rng := rand.New(rand.NewPCG(1, 2))
	names := make([]string, 4096)
	for i := range names {
		names[i] = benchName(rng.IntN(benchMailboxes))
	}
	lat := make([]time.Duration, 0, min(b.N, 1<<20))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		mb, ok := f.Mailbox(names[i%len(names)])
		d := time.Since(start)
		if !ok || mb.State != Active {
			b.Fatalf("lookup of %s failed", names[i%len(names)])
		}
		if len(lat) < cap(lat) {
			lat = append(lat, d)
		}
	}
	b.StopTimer()
	b.ReportMetric(percentile(lat, 0.50), "p50_ns")
	b.ReportMetric(percentile(lat, 0.99), "p99_ns")
}

// BenchmarkLookup1MWhileApplying measures reads while a writer applies
// Reserve/Release pairs flat out, as on a busy frontend.
func BenchmarkLookup1MWhileApplying(b *testing.B) {
	f := sharedDirectory(b)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		index := f.AppliedIndex()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("shared/bench/%d", i)
			index++
			f.ApplyCommand(index, Reserve{Name: name, Backend: "backend-1", Reservation: "r"})
			index++
			f.ApplyCommand(index, Release{Name: name, Reservation: "r"})
		}
	}()
	rng := rand.New(rand.NewPCG(3, 4))
	lat := make([]time.Duration, 0, min(b.N, 1<<20))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := benchName(rng.IntN(benchMailboxes))
		start := time.Now()
		_, ok := f.Mailbox(name)
		d := time.Since(start)
		if !ok {
			b.Fatalf("lookup of %s failed", name)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, d)
		}
	}
	b.StopTimer()
	close(stop)
	<-done
	b.ReportMetric(percentile(lat, 0.50), "p50_ns")
	b.ReportMetric(percentile(lat, 0.99), "p99_ns")
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func BenchmarkMemoryPerMailbox(b *testing.B) {
	for i := 0; i < b.N; i++ {
		before := heapAlloc()
		f := buildDirectory(b, benchMailboxes)
		after := heapAlloc()
		if f.MailboxCount() != benchMailboxes {
			b.Fatalf("count %d", f.MailboxCount())
		}
		b.ReportMetric(float64(after-before)/benchMailboxes, "bytes/mailbox")
		runtime.KeepAlive(f)
	}
}

func BenchmarkSnapshotRestore1M(b *testing.B) {
	f := sharedDirectory(b)
	path := filepath.Join(b.TempDir(), "snapshot")
	for i := 0; i < b.N; i++ {
		start := time.Now()
		snap, err := f.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		sink, err := newFileSink(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := snap.Persist(sink); err != nil {
			b.Fatal(err)
		}
		snapshotTime := time.Since(start)

		start = time.Now()
		rc, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		g := New()
		if err := g.Restore(rc); err != nil {
			b.Fatal(err)
		}
		restoreTime := time.Since(start)
		if g.MailboxCount() != benchMailboxes {
			b.Fatalf("restored %d mailboxes", g.MailboxCount())
		}
		st, _ := os.Stat(path)
		b.ReportMetric(snapshotTime.Seconds(), "snapshot_s")
		b.ReportMetric(restoreTime.Seconds(), "restore_s")
		b.ReportMetric(float64(st.Size())/(1<<20), "snapshot_MiB")
	}
}

// fileSink is a raft.SnapshotSink writing to a file and syncing on Close,
// as raft's FileSnapshotStore does.
type fileSink struct {
	*os.File
}

func newFileSink(path string) (*fileSink, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &fileSink{File: f}, nil
}

func (s *fileSink) ID() string    { return "bench" }
func (s *fileSink) Cancel() error { return s.File.Close() }
func (s *fileSink) Close() error {
	if err := s.File.Sync(); err != nil {
		return err
	}
	return s.File.Close()
}

// BenchmarkApply is one CREATE as the directory sees it: Reserve then
// Activate, each a log entry applied and published on its own.
func BenchmarkApply(b *testing.B) {
	f := buildDirectory(b, 100_000)
	index := f.AppliedIndex()
	entries := make([][2][]byte, b.N)
	for i := range entries {
		name := fmt.Sprintf("shared/apply/%d", i)
		entries[i][0], _ = Encode(Reserve{Name: name, Backend: "backend-1", Replicas: []string{"backend-2"}, Reservation: "r"})
		entries[i][1], _ = Encode(Activate{Name: name, Reservation: "r"})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, data := range entries[i] {
			index++
			if r := f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data}).(Result); r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
}
