package statuspage

import (
	"cmp"
	"context"
	"slices"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// DirectoryView is what DirectorySource reads: the directory, through its
// one read API, and the members' status; *directory.Node is one.
type DirectoryView interface {
	directory.Directory
	ClusterStatus(ctx context.Context) []directory.MemberStatus
}

// LagFunc reports the lag of the replica pairs it can learn of (from the
// primaries' replication senders, local or asked over the cluster API);
// nil when there are none.
type LagFunc func(ctx context.Context) []Replica

// DirectorySource is the page's Source over a directory node: members from
// ClusterStatus, backends and mailbox counts and replica pairs from the
// local directory copy, lag from lag (which may be nil). It walks every
// mailbox on each call: cheap next to the two-second poll for the
// directories Rookery is built for, and it needs no index of its own.
func DirectorySource(d DirectoryView, lag LagFunc) Source {
	return dirSource{d: d, lag: lag}
}

type dirSource struct {
	d   DirectoryView
	lag LagFunc
}

var _ Source = dirSource{}

func (s dirSource) ClusterStatus(ctx context.Context) (Cluster, error) {
	var c Cluster
	for _, m := range s.d.ClusterStatus(ctx) {
		c.Nodes = append(c.Nodes, Node{ID: m.NodeID, Roles: m.Roles, RaftState: m.RaftState, Voter: m.Voter,
			LeaderID: m.LeaderID, Term: m.Term, CommitIndex: m.CommitIndex, AppliedIndex: m.AppliedIndex,
			LastContact: m.LastContact, Voters: m.Voters, Error: m.Error, DownSince: m.DownSince, APIAddr: m.APIAddr})
	}
	nodeAt := map[string]string{}
	for _, n := range c.Nodes {
		if n.APIAddr != "" {
			nodeAt[n.APIAddr] = n.ID
		}
	}
	f, err := s.d.Read(ctx, directory.Local)
	if err != nil {
		return c, err
	}
	index := map[string]int{}
	for _, b := range f.Backends() {
		index[b.ID] = len(c.Backends)
		c.Backends = append(c.Backends, Backend{ID: b.ID, State: b.State.String(), Node: nodeAt[b.APIAddr]})
	}
	pairs := map[fsm.Pair]bool{}
	f.Mailboxes("", func(mb *fsm.Mailbox) bool {
		if i, ok := index[mb.Primary.Backend]; ok {
			c.Backends[i].Primaries++
		}
		for _, r := range mb.Replicas {
			if i, ok := index[r.Backend]; ok {
				c.Backends[i].Replicas++
			}
			pairs[fsm.Pair{Primary: mb.Primary.Backend, Replica: r.Backend}] = true
		}
		return true
	})
	c.Replication = replicaPairs(ctx, f, pairs, s.lag)
	return c, ctx.Err()
}

// replicaPairs lists every primary to replica pair that some mailbox has,
// with the directory's in-sync flag and, where known, the sender's lag.
func replicaPairs(ctx context.Context, f *fsm.View, pairs map[fsm.Pair]bool, lag LagFunc) []Replica {
	known := map[fsm.Pair]Replica{}
	if lag != nil {
		for _, r := range lag(ctx) {
			known[fsm.Pair{Primary: r.Primary, Replica: r.Replica}] = r
		}
	}
	var out []Replica
	for p := range pairs {
		r, ok := known[p]
		if !ok {
			r.Lag = -1
		}
		r.Primary, r.Replica, r.InSync = p.Primary, p.Replica, f.InSync(p.Primary, p.Replica)
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Replica) int {
		return cmp.Or(cmp.Compare(a.Primary, b.Primary), cmp.Compare(a.Replica, b.Replica))
	})
	return out
}
