package spool

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkAppend measures APPEND through the store with fsync on, one
// appender and sixteen concurrent ones (where group commit pays).
//
//	go test -run '^$' -bench Append -benchtime 2000x ./spool/
func BenchmarkAppend(b *testing.B) {
	for _, conc := range []int{1, 16} {
		b.Run(fmt.Sprintf("concurrency_%d", conc), func(b *testing.B) {
			s := openStore(b, b.TempDir())
			mustCreate(b, s, 1, 2, 0)
			body := strings.Repeat("x", 4000)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := 0; w < conc; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						n := next.Add(1)
						if n > int64(b.N) {
							return
						}
						// A distinct body each time: no single-instance shortcut.
						r := bytes.NewReader([]byte(fmt.Sprintf("Subject: %d\r\n\r\n%s\r\n", n, body)))
						if _, err := s.Append(context.Background(), AppendRequest{Mailbox: 1, Body: r}); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
			b.ReportMetric(float64(peakRSSKiB()), "peak_rss_KiB")
		})
	}
}

// peakRSSKiB is the process's peak resident set (VmHWM), or 0 off Linux.
func peakRSSKiB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kib int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kib)
			return kib
		}
	}
	return 0
}

// BenchmarkIndexCommit compares the store's committer with bbolt's own
// DB.Batch for one small index write per call, fsync on. Batch waits up to
// MaxBatchDelay (10 ms) to fill a batch, which caps a lone writer near
// 100 commits/s; the committer commits as soon as the previous fsync ends.
//
//	go test -run '^$' -bench IndexCommit -benchtime 1000x ./spool/
func BenchmarkIndexCommit(b *testing.B) {
	put := func(tx *bolt.Tx, n int64) error {
		return tx.Bucket(bucketMailboxes).Put(binary.BigEndian.AppendUint64([]byte("bench-"), uint64(n)), []byte("v"))
	}
	ways := map[string]func(s *Store, n int64) error{
		"committer": func(s *Store, n int64) error { return s.submit(func(w *txn) error { return put(w.Tx, n) }) },
		"bbolt_batch": func(s *Store, n int64) error {
			return s.db.Batch(func(tx *bolt.Tx) error { return put(tx, n) })
		},
	}
	for _, name := range []string{"committer", "bbolt_batch"} {
		for _, conc := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/concurrency_%d", name, conc), func(b *testing.B) {
				s := openStore(b, b.TempDir())
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				for w := 0; w < conc; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
							if err := ways[name](s, n); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
			})
		}
	}
}

// BenchmarkChangesSince reads what changed in a mailbox of 20,000
// messages since the modseq before its last change, as a primary does for
// each batch it sends a replica: through the changes index, and by the
// scan of every record that a mailbox without the index falls back to.
func BenchmarkChangesSince(b *testing.B) {
	s := openStore(b, b.TempDir())
	mustCreate(b, s, 1, 2, 0)
	const n = 20000
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				mustAppend(b, s, 1, testBody(i))
			}
		}()
	}
	wg.Wait()
	st, _ := s.Status(1)
	for _, c := range []struct {
		name string
		drop bool
	}{{"index", false}, {"scan", true}} {
		if c.drop {
			s.db.Update(func(tx *bolt.Tx) error {
				mb, _ := mailboxBucket(tx, 1)
				return mb.DeleteBucket(keyChanges)
			})
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				cb, err := s.ChangesSince(1, st.HighestModSeq-1, false)
				if err != nil || len(cb.Records) != 1 {
					b.Fatalf("%d records, %v", len(cb.Records), err)
				}
			}
		})
	}
}
