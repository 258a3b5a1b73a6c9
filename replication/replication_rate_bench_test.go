package replication_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/testcluster"
)

// BenchmarkReplicationLagSteady delivers at a steady rate (250 and 500
// messages a second; 4 kB, 20 mailboxes on b1, b2 their in-sync replica)
// for b.N messages and reports the replication time on the
// acknowledgement path (lag_p50_ms, lag_p99_ms), the delivery latency as
// the sender sees it, the rate achieved (below the offered rate, the
// machine could not keep up) and the CPU time a delivery costs the
// process. Run with -benchtime=5000x.
func BenchmarkReplicationLagSteady(b *testing.B) {
	for _, rate := range []int{250, 500} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) { steadyDeliveries(b, rate) })
	}
}

func steadyDeliveries(b *testing.B, rate int) {
	c := testcluster.Start(b, testcluster.Options{Backends: 2, ReplicationFactor: 2})
	var ids []uint64
	for i := range 20 {
		name := fmt.Sprintf("u%d", i)
		c.AddUser(name, 0)
		mb, _ := testcluster.Local(b, c.Voters[0]).Mailbox(fsm.Inbox(name))
		ids = append(ids, mb.ID)
	}
	testcluster.WaitFor(b, "b2 in sync", func() bool { return testcluster.Local(b, c.Voters[0]).InSync("b1", "b2") })
	b1 := c.Backends[0]
	pad := strings.Repeat("0123456789abcdef", 256)

	work := make(chan int, rate)
	var mu sync.Mutex
	var latencies []time.Duration
	var wg sync.WaitGroup
	for range 128 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				body := fmt.Sprintf("Subject: %d\r\nMessage-Id: <%d@steady>\r\n\r\n%s\r\n", n, n, pad)
				start := time.Now()
				ds, err := b1.Store.Deliver(context.Background(), []uint64{ids[n%len(ids)]}, strings.NewReader(body), time.Now())
				if err == nil {
					err = ds[0].Err
				}
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				latencies = append(latencies, time.Since(start))
				mu.Unlock()
			}
		}()
	}
	b.ResetTimer()
	cpu0 := processCPU()
	start := time.Now()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	for n := 0; n < b.N; n++ {
		<-tick.C
		work <- n
	}
	tick.Stop()
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	b.StopTimer()

	st := b1.Role.Replication().Stats()
	slices.Sort(latencies)
	q := func(p int) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[min(len(latencies)-1, len(latencies)*p/100)].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(st.LagP50.Microseconds())/1000, "lag_p50_ms")
	b.ReportMetric(float64(st.LagP99.Microseconds())/1000, "lag_p99_ms")
	b.ReportMetric(q(50), "delivery_p50_ms")
	b.ReportMetric(q(99), "delivery_p99_ms")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu_ms/delivery")
}

// processCPU is the CPU time this process has used, user and system: the
// cost of a delivery on both backends and the directory, which the noise
// of other work on the machine moves less than the rate.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
