package replication_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/testcluster"
)

// BenchmarkReplicatedDelivery delivers to a mailbox on b1 through its
// store, with b2 an in-sync replica (or with no replica, for comparison),
// from eight writers at once. It reports the replication time on the ack
// path (lag_p50_ms, lag_p99_ms) and the bytes sent per message; with
// duplicate bodies, the GUID reserve keeps bodies off the wire.
func BenchmarkReplicatedDelivery(b *testing.B) {
	for _, bc := range []struct {
		name      string
		factor    int
		duplicate bool
	}{
		{"unreplicated", 1, false},
		{"replicated", 2, false},
		{"replicated_duplicate_bodies", 2, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := testcluster.Start(b, testcluster.Options{Backends: 2, ReplicationFactor: bc.factor})
			c.AddUser("alice", 0)
			mb, _ := testcluster.Local(b, c.Voters[0]).Mailbox(fsm.Inbox("alice"))
			b1 := c.Backends[0]
			if bc.factor > 1 {
				testcluster.WaitFor(b, "b2 in sync", func() bool { return testcluster.Local(b, c.Voters[0]).InSync("b1", "b2") })
			}
			pad := strings.Repeat("0123456789abcdef", 256) // 4 kB bodies
			before := b1.Role.Replication().Stats()
			var seq atomic.Int64
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					if bc.duplicate {
						n = 0
					}
					body := fmt.Sprintf("Subject: %d\r\nMessage-Id: <%d@bench>\r\n\r\n%s\r\n", n, n, pad)
					ds, err := b1.Store.Deliver(context.Background(), []uint64{mb.ID}, strings.NewReader(body), time.Now())
					if err == nil {
						err = ds[0].Err
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			st := b1.Role.Replication().Stats()
			b.ReportMetric(float64(st.LagP50.Microseconds())/1000, "lag_p50_ms")
			b.ReportMetric(float64(st.LagP99.Microseconds())/1000, "lag_p99_ms")
			b.ReportMetric(float64(st.BytesSent-before.BytesSent)/float64(b.N), "wire_B/msg")
		})
	}
}

// BenchmarkFailover measures, per iteration, the time from stopping a
// primary to the first delivery the new primary acknowledges through the
// frontend: failure detection, the directory's promotion, the frontend
// following it. Run with -benchtime=1x to 3x; each iteration starts a
// cluster.
func BenchmarkFailover(b *testing.B) {
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := testcluster.Start(b, testcluster.Options{Backends: 2, Frontends: 1, ReplicationFactor: 2})
		c.AddUser("alice", 0)
		testcluster.WaitFor(b, "b2 in sync", func() bool { return testcluster.Local(b, c.Voters[0]).InSync("b1", "b2") })
		lmtp := c.Frontends[0].LMTPAddr
		if code, err := deliver(lmtp, "alice@example.org", "warm"); code != 250 {
			b.Fatalf("delivery before failover: %d %v", code, err)
		}
		b.StartTimer()
		killed := time.Now()
		c.Backends[0].Stop()
		testcluster.WaitFor(b, "a delivery to the new primary", func() bool {
			code, _ := deliver(lmtp, "alice@example.org", fmt.Sprintf("after-%d", i))
			return code == 250
		})
		total += time.Since(killed)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "failover_ms")
}
