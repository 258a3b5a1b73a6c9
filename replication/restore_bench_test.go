package replication_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/testcluster"
	"github.com/rookery-mail/rookery/spool"
)

// BenchmarkRestore measures how long a primary takes to restore the
// replication factor of its mailboxes after a replica's backend dies:
// ROOKERY_BENCH_MAILBOXES mailboxes (10,000 by default) of one 4 kB
// message each, created on b1 with replicas on b2 and b3; b2 stops and is
// marked down, and the clock runs until every mailbox b1 serves has a
// live copy on b3 again, in sync. It reports mailboxes restored per
// second and the whole time. One iteration; -benchtime=1x.
func BenchmarkRestore(b *testing.B) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("ROOKERY_BENCH_MAILBOXES")); err == nil && v > 0 {
		n = v
	}
	c := testcluster.Start(b, testcluster.Options{Backends: 3, ReplicationFactor: 2, RestoreAfter: time.Millisecond})
	c.AddUser("alice", 0)
	b1, b2, b3 := c.Backends[0], c.Backends[1], c.Backends[2]
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				// An election under the load fails a create now and then:
				// another name, a few times.
				var err error
				for attempt := range 5 {
					var mb *fsm.Mailbox
					mb, err = b1.Role.Create(context.Background(), fmt.Sprintf("user/alice/f%d-%d", i, attempt), "")
					if err == nil {
						_, err = b1.Store.Append(context.Background(), spool.AppendRequest{Mailbox: mb.ID, Body: strings.NewReader(sizedMessage(fmt.Sprint(i), 4096))})
					}
					if err == nil {
						break
					}
				}
				if err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	onB2 := 0
	testcluster.Local(b, b1.Node).Mailboxes("", func(m *fsm.Mailbox) bool {
		if m.Primary.Backend == b1.ID && len(m.Replicas) == 1 && m.Replicas[0].Backend == b2.ID {
			onB2++
		}
		return true
	})
	testcluster.WaitFor(b, "b1's replicas in sync", func() bool { return inSync(c, b1.ID, b2.ID) })

	b.ResetTimer()
	start := time.Now()
	b2.Stop()
	markDown(b, c, b2.ID)
	deadline := time.Now().Add(30 * time.Minute)
	for {
		v, err := c.Voters[0].Read(testcluster.Ctx(b), directory.Synced)
		if err != nil {
			b.Fatal(err)
		}
		left := 0
		v.Mailboxes("", func(m *fsm.Mailbox) bool {
			if m.Primary.Backend == b1.ID && (len(m.Replicas) == 0 || m.Replicas[0].Backend == b2.ID) {
				left++
			}
			return true
		})
		if left == 0 && v.InSync(b1.ID, b3.ID) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d mailboxes still without a live replica after 30 minutes", left, onB2)
		}
		time.Sleep(100 * time.Millisecond) // polling a figure, not waiting for a condition a test asserts
	}
	took := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(onB2)/took.Seconds(), "mailboxes/s")
	b.ReportMetric(took.Seconds(), "s")
	b.ReportMetric(float64(onB2), "restored")
	b.ReportMetric(0, "ns/op")
}
