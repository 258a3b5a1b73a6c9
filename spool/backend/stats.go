package backend

import (
	"slices"
	"sync"
	"time"
)

// ReplicationStats describes this backend's replication as a primary.
type ReplicationStats struct {
	Commits   int64         // commits the ack path replicated
	BytesSent int64         // bytes of apply streams (batch headers and bodies)
	LagP50    time.Duration // time from local commit to every in-sync replica holding it
	LagP99    time.Duration // (over the last lagWindow commits)
}

const lagWindow = 4096

// lagRing keeps the last lagWindow ack-path replication times.
type lagRing struct {
	mu      sync.Mutex
	samples []time.Duration
	next    int
	commits int64
}

func (l *lagRing) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.commits++
	if len(l.samples) < lagWindow {
		l.samples = append(l.samples, d)
		return
	}
	l.samples[l.next] = d
	l.next = (l.next + 1) % lagWindow
}

func (l *lagRing) quantiles() (n int64, p50, p99 time.Duration) {
	l.mu.Lock()
	s := slices.Clone(l.samples)
	n = l.commits
	l.mu.Unlock()
	if len(s) == 0 {
		return n, 0, 0
	}
	slices.Sort(s)
	return n, s[len(s)*50/100], s[min(len(s)-1, len(s)*99/100)]
}

// ReplicationStats reports replication figures since Start.
func (b *Backend) ReplicationStats() ReplicationStats {
	n, p50, p99 := b.repl.lag.quantiles()
	return ReplicationStats{Commits: n, BytesSent: b.repl.client.BytesSent(), LagP50: p50, LagP99: p99}
}
