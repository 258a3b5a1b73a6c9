// Package statuspage serves the cluster status page on a node's admin
// listener: one self-contained HTML page (no external scripts or styles)
// whose inline script polls the same URL's JSON form every two seconds.
package statuspage

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// Source describes the cluster. The node implements it over the
// directory's member statuses and its local copy of the directory state.
type Source interface {
	ClusterStatus(ctx context.Context) (Cluster, error)
}

// Cluster is everything the page shows, as the source sees it now.
type Cluster struct {
	Nodes       []Node
	Backends    []Backend
	Replication []Replica // empty when no mailbox has a replica
}

// Node is one member of the cluster.
type Node struct {
	ID           string
	Roles        []string
	RaftState    string // Leader, Follower, Candidate, Shutdown
	Voter        bool
	LeaderID     string
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64
	LastContact  time.Time // with the leader; zero on the leader or before any contact
	Voters       int       // voters in the node's Raft configuration, itself included
	Error        string    // why the node could not be asked, when it could not
	DownSince    time.Time // when gossip found the node failed; zero while it is alive
	APIAddr      string    // the node's cluster API, which names the backend it runs
}

// Backend is one backend in the directory and how many mailboxes it holds.
type Backend struct {
	ID        string `json:"id"`
	State     string `json:"state"`          // up, draining, down
	Primaries int    `json:"primaries"`      // mailboxes whose primary copy is here
	Replicas  int    `json:"replicas"`       // mailboxes with a replica copy here
	Node      string `json:"node,omitempty"` // the node that runs it, where known
}

// Replica is one primary to replica backend pair.
type Replica struct {
	Primary, Replica string
	InSync           bool
	Lag              time.Duration // how long the replica has been out of the in-sync set (0 in sync); negative when unknown
	Pending          int           // changes not yet applied (when Lag is known)
}

// view is the JSON the page's script renders: the source's data plus what
// is derived from it, so the script only draws.
type view struct {
	GeneratedAt string       `json:"generated_at"`
	Leader      string       `json:"leader"`
	Term        uint64       `json:"term"`
	Voters      int          `json:"voters"`
	Healthy     int          `json:"healthy_voters"`
	Quorum      int          `json:"quorum"`
	CanLose     int          `json:"can_lose"`
	Nodes       []nodeView   `json:"nodes"`
	Backends    []Backend    `json:"backends"`
	Mailboxes   int          `json:"mailboxes"`
	Replication []replicView `json:"replication"`
}

type nodeView struct {
	ID           string   `json:"id"`
	Roles        []string `json:"roles"`
	RaftState    string   `json:"raft_state"`
	Voter        bool     `json:"voter"`
	Term         uint64   `json:"term"`
	CommitIndex  uint64   `json:"commit_index"`
	AppliedIndex uint64   `json:"applied_index"`
	Lag          int64    `json:"lag"`             // leader's commit index minus this node's applied index; -1 unknown
	LastContact  string   `json:"last_contact"`    // "" on the leader or when unknown
	Health       string   `json:"health"`          // ok, no leader, unreachable, down
	Error        string   `json:"error,omitempty"` // when unreachable or down
	DownFor      string   `json:"down_for,omitempty"`
}

type replicView struct {
	Primary string   `json:"primary"`
	Replica string   `json:"replica"`
	InSync  bool     `json:"in_sync"`
	State   string   `json:"state"`       // ok, behind, or "replica down" / "primary down" when that node is
	LagSec  *float64 `json:"lag_seconds"` // null when unknown
	Pending *int     `json:"pending"`
}

// summarize derives the page's view from the source's data at now.
func summarize(c Cluster, now time.Time) view {
	v := view{GeneratedAt: now.UTC().Format(time.RFC3339), Backends: slices.Clone(c.Backends)}
	var leaderCommit uint64
	leaderVoters := 0
	for _, n := range c.Nodes {
		if n.Error == "" && n.RaftState == "Leader" && n.Term >= v.Term {
			v.Leader, v.Term, leaderCommit, leaderVoters = n.ID, n.Term, n.CommitIndex, n.Voters
		}
	}
	down := map[string]bool{}
	for _, n := range c.Nodes {
		nv := nodeView{ID: n.ID, Roles: n.Roles, RaftState: n.RaftState, Voter: n.Voter, Term: n.Term,
			CommitIndex: n.CommitIndex, AppliedIndex: n.AppliedIndex, Lag: -1, Health: "ok", Error: n.Error}
		switch {
		case !n.DownSince.IsZero():
			nv.Health, nv.RaftState = "down", "?"
			nv.DownFor = now.Sub(n.DownSince).Round(time.Second).String()
			down[n.ID] = true
		case n.Error != "":
			nv.Health, nv.RaftState = "unreachable", "?"
			down[n.ID] = true
		case n.LeaderID == "":
			nv.Health = "no leader"
		}
		if n.Error == "" && leaderCommit > 0 {
			nv.Lag = max(0, int64(leaderCommit)-int64(n.AppliedIndex))
		}
		if !n.LastContact.IsZero() && n.RaftState != "Leader" {
			nv.LastContact = now.Sub(n.LastContact).Round(time.Millisecond).String()
		}
		if n.Voter || (n.Error != "" && slices.Contains(n.Roles, "directory")) {
			v.Voters++
			if nv.Health == "ok" {
				v.Healthy++
			}
		}
		if nv.Roles == nil {
			nv.Roles = []string{}
		}
		v.Nodes = append(v.Nodes, nv)
	}
	slices.SortFunc(v.Nodes, func(a, b nodeView) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(v.Backends, func(a, b Backend) int { return cmp.Compare(a.ID, b.ID) })
	for _, b := range v.Backends {
		v.Mailboxes += b.Primaries
	}
	// The leader's Raft configuration is the truth about how many voters
	// there are: a dead voter still counts, though nobody can ask it.
	if leaderVoters > 0 {
		v.Voters = leaderVoters
	}
	if v.Voters > 0 {
		v.Quorum = v.Voters/2 + 1
		v.CanLose = max(0, v.Healthy-v.Quorum)
	}
	// Replication names backends, not nodes: a backend is down with the
	// node that runs it, or when the directory says so.
	for _, b := range c.Backends {
		if down[b.Node] || b.State == "down" {
			down[b.ID] = true
		}
	}
	for _, r := range c.Replication {
		rv := replicView{Primary: r.Primary, Replica: r.Replica, InSync: r.InSync, State: "ok"}
		switch {
		case down[r.Replica]:
			rv.State = "replica down"
		case down[r.Primary]:
			rv.State = "primary down"
		case !r.InSync:
			rv.State = "behind"
		}
		if r.Lag >= 0 {
			lag, pending := r.Lag.Seconds(), r.Pending
			rv.LagSec, rv.Pending = &lag, &pending
		}
		v.Replication = append(v.Replication, rv)
	}
	if v.Nodes == nil {
		v.Nodes = []nodeView{}
	}
	if v.Backends == nil {
		v.Backends = []Backend{}
	}
	if v.Replication == nil {
		v.Replication = []replicView{}
	}
	return v
}
