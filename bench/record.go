package bench

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// sample is one command: when it started (from the start of the run) and
// how long it took.
type sample struct {
	at, took time.Duration
	failed   bool
}

// recorder collects one load generator's samples. Every client owns one, so
// the hot path takes no lock; merge combines them when the run is over.
type recorder struct {
	start   time.Time
	samples map[string][]sample
}

func newRecorder(start time.Time) *recorder {
	return &recorder{start: start, samples: make(map[string][]sample)}
}

// observe records op as having started at began and ended now.
func (r *recorder) observe(op string, began time.Time, err error) {
	now := time.Now()
	r.samples[op] = append(r.samples[op], sample{at: began.Sub(r.start), took: now.Sub(began), failed: err != nil})
}

// observeTook records a measured interval that is not one command's round
// trip (list lag).
func (r *recorder) observeTook(op string, began time.Time, took time.Duration) {
	r.samples[op] = append(r.samples[op], sample{at: began.Sub(r.start), took: took})
}

func (r *recorder) merge(o *recorder) {
	for op, s := range o.samples {
		r.samples[op] = append(r.samples[op], s...)
	}
}

// checker collects the invariant violations a client saw. It keeps the
// first few descriptions and counts the rest.
type checker struct {
	mu       sync.Mutex
	count    int
	examples []string
}

const maxExamples = 50

func (c *checker) fail(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.count++
	if len(c.examples) < maxExamples {
		c.examples = append(c.examples, fmt.Sprintf(format, args...))
	}
}

func (c *checker) violations() (int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count, slices.Clone(c.examples)
}

// OpStats summarises one kind of command.
type OpStats struct {
	Op        string      `json:"op"`
	Count     int         `json:"count"`
	Errors    int         `json:"errors"`
	PerSecond float64     `json:"per_second"`
	Latency   Percentiles `json:"latency_ms"`
	Histogram []Bin       `json:"histogram"`
}

// Percentiles of latency in milliseconds.
type Percentiles struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// Bin is one bar of a latency histogram: samples in [Lo, Hi) milliseconds.
type Bin struct {
	Lo    float64 `json:"lo_ms"`
	Hi    float64 `json:"hi_ms"`
	Count int     `json:"count"`
}

// Series is throughput over time: Counts[op][i] commands completed in the
// i-th bucket of BucketSeconds.
type Series struct {
	BucketSeconds float64          `json:"bucket_seconds"`
	Counts        map[string][]int `json:"counts"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// summarise turns the samples of a run of the given length into statistics,
// in the order of ops (ops with no samples are left out).
func (r *recorder) summarise(ops []string, elapsed time.Duration) ([]OpStats, Series) {
	width := bucketWidth(elapsed)
	n := int(math.Ceil(float64(elapsed) / float64(width)))
	series := Series{BucketSeconds: width.Seconds(), Counts: make(map[string][]int)}
	var stats []OpStats
	for _, op := range ops {
		s := r.samples[op]
		if len(s) == 0 {
			continue
		}
		counts := make([]int, max(n, 1))
		lat := make([]time.Duration, 0, len(s))
		st := OpStats{Op: op, Count: len(s)}
		var sum time.Duration
		for _, x := range s {
			if x.failed {
				st.Errors++
			}
			lat = append(lat, x.took)
			sum += x.took
			counts[min(int((x.at+x.took)/width), len(counts)-1)]++
		}
		slices.Sort(lat)
		st.PerSecond = float64(len(s)) / elapsed.Seconds()
		st.Latency = Percentiles{
			Mean: ms(sum) / float64(len(lat)),
			P50:  ms(quantile(lat, 0.50)), P90: ms(quantile(lat, 0.90)),
			P99: ms(quantile(lat, 0.99)), P999: ms(quantile(lat, 0.999)),
			Max: ms(lat[len(lat)-1]),
		}
		st.Histogram = histogram(lat)
		stats = append(stats, st)
		series.Counts[op] = counts
	}
	return stats, series
}

// quantile of sorted samples, nearest rank.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// bucketWidth picks a round bucket width giving at most 120 buckets.
func bucketWidth(elapsed time.Duration) time.Duration {
	for _, w := range []time.Duration{100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second} {
		if elapsed/w <= 120 {
			return w
		}
	}
	return time.Minute
}

// histogram bins sorted latencies on a log scale: latency spans orders of
// magnitude and its tail is what matters.
func histogram(sorted []time.Duration) []Bin {
	const bins = 30
	lo := math.Log10(max(ms(sorted[0]), 0.001))
	hi := math.Log10(max(ms(sorted[len(sorted)-1]), 0.001))
	if hi-lo < 0.5 {
		lo, hi = lo-0.25, hi+0.25
	}
	hi += 1e-9
	step := (hi - lo) / bins
	out := make([]Bin, bins)
	for i := range out {
		out[i] = Bin{Lo: math.Pow(10, lo+float64(i)*step), Hi: math.Pow(10, lo+float64(i+1)*step)}
	}
	for _, d := range sorted {
		v := math.Log10(max(ms(d), 0.001))
		i := int((v - lo) / step)
		out[max(0, min(i, bins-1))].Count++
	}
	return out
}
