package bench

import (
	"math/rand"
	"testing"
	"time"
)

func TestSummarise(t *testing.T) {
	start := time.Now()
	r := newRecorder(start)
	for i := 1; i <= 100; i++ {
		r.samples["fetch"] = append(r.samples["fetch"], sample{at: time.Duration(i) * 10 * time.Millisecond, took: time.Duration(i) * time.Millisecond, failed: i%10 == 0})
	}
	stats, series := r.summarise([]string{"fetch", "absent"}, time.Second)
	if len(stats) != 1 {
		t.Fatalf("%d ops summarised, want 1 (ops without samples are left out)", len(stats))
	}
	s := stats[0]
	if s.Count != 100 || s.Errors != 10 || s.PerSecond != 100 {
		t.Fatalf("count %d errors %d per second %v", s.Count, s.Errors, s.PerSecond)
	}
	if s.Latency.P50 != 50 || s.Latency.P99 != 99 || s.Latency.Max != 100 || s.Latency.Mean != 50.5 {
		t.Fatalf("latency %+v", s.Latency)
	}
	var inBins, inSeries int
	for _, b := range s.Histogram {
		inBins += b.Count
		if b.Lo >= b.Hi {
			t.Fatalf("bin %+v", b)
		}
	}
	for _, n := range series.Counts["fetch"] {
		inSeries += n
	}
	if inBins != 100 || inSeries != 100 || series.BucketSeconds != 0.1 {
		t.Fatalf("%d samples in the histogram, %d in the series of %vs buckets", inBins, inSeries, series.BucketSeconds)
	}
}

func TestMessageSize(t *testing.T) {
	for _, size := range []int{1, 300, 4096, 100_000} {
		m := message("x.1.1@bench.rookery.invalid", "a@b", size, filler(rand.New(rand.NewSource(1)), 1000))
		if size > 400 && len(m) != size {
			t.Errorf("size %d: message is %d bytes", size, len(m))
		}
		for i := range m {
			if m[i] == '\r' && (i+1 == len(m) || m[i+1] != '\n') {
				t.Fatalf("size %d: bare CR at %d", size, i)
			}
		}
	}
}
