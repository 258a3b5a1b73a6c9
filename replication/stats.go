package replication

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// Stats describes this backend's replication as a primary.
type Stats struct {
	Commits   int64         // commits the ack path replicated
	BytesSent int64         // bytes of apply streams (batch headers and bodies)
	LagP50    time.Duration // time from local commit to every in-sync replica holding it
	LagP99    time.Duration // (over the last lagWindow commits)
	// Restored counts the copies this backend, as primary, has made again
	// on another backend since start (restore.go); UnderReplicated is the
	// number of its mailboxes with fewer live copies than the replication
	// factor, as the last restore round found.
	Restored        int64
	UnderReplicated int64
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

// Stats reports replication figures since Start.
func (r *Replicator) Stats() Stats {
	n, p50, p99 := r.lag.quantiles()
	return Stats{Commits: n, BytesSent: r.client.BytesSent(), LagP50: p50, LagP99: p99,
		Restored: r.restored.Load(), UnderReplicated: r.underReplicated.Load()}
}

// ReplicaLag is one replica of this backend's mailboxes, for the metrics
// and the status page. Replication is synchronous, so a replica in the
// in-sync set lags by nothing beyond the acknowledgement path (see
// Stats); one out of it lags by as long as it has been out.
type ReplicaLag struct {
	Replica   string
	InSync    bool
	Behind    time.Duration // since it left the in-sync set; -1 when that predates this process
	Mailboxes int           // this backend's mailboxes it holds a copy of
}

// ReplicaLags reports every replica of the mailboxes this backend is
// primary of, from the local directory copy.
func (r *Replicator) ReplicaLags() []ReplicaLag {
	f, err := r.dir.Read(context.Background(), directory.Local)
	if err != nil {
		r.log.Warn("replica lags unknown: the directory could not be read", "err", err)
		return nil
	}
	counts := map[string]int{}
	f.Mailboxes("", func(m *fsm.Mailbox) bool {
		if m.Primary.Backend == r.id {
			for _, c := range m.Replicas {
				counts[c.Backend]++
			}
		}
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]ReplicaLag, 0, len(counts))
	for rid, n := range counts {
		l := ReplicaLag{Replica: rid, InSync: f.InSync(r.id, rid), Mailboxes: n}
		if !l.InSync {
			l.Behind = -1
			if since, ok := r.outSince[rid]; ok {
				l.Behind = time.Since(since)
			}
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b ReplicaLag) int { return strings.Compare(a.Replica, b.Replica) })
	return out
}
