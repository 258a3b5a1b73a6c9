package main

import (
	"strings"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/directory"
)

// TestStatusRows checks `admin status` with one voter down and one just
// restarted: the dead node is listed, down, with since when; the
// restarted one is catching up, not ok; the voters are those of the
// leader's configuration, and only those serving count as healthy.
func TestStatusRows(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	member := func(id, state string, applied uint64) directory.MemberStatus {
		return directory.MemberStatus{Status: directory.Status{NodeID: id, Roles: []string{"directory"}, RaftState: state,
			LeaderID: "node1", CommitIndex: 300, AppliedIndex: applied, Voter: true, Voters: 3}}
	}
	down := directory.MemberStatus{Status: directory.Status{NodeID: "node3", Roles: []string{"directory"}},
		Error: "down", DownSince: now.Add(-time.Minute)}
	rows, q := statusRows([]directory.MemberStatus{member("node1", "Leader", 300), member("node2", "Follower", 0), down}, now)
	health := map[string]string{}
	for _, r := range rows {
		health[r.NodeID] = r.Health
	}
	if health["node1"] != "ok" || health["node2"] != "catching up" || health["node3"] != "down" {
		t.Errorf("health %v", health)
	}
	if q.Voters != 3 || q.Healthy != 1 || q.Quorum != 2 || !strings.HasPrefix(q.Summary, "1 of 3 directory voters healthy") {
		t.Errorf("quorum %+v", q)
	}
	rows, q = statusRows([]directory.MemberStatus{member("node1", "Leader", 300), member("node2", "Follower", 290), down}, now)
	if rows[1].Health != "ok" || rows[1].Lag == nil || *rows[1].Lag != 10 || !strings.HasPrefix(q.Summary, "2 of 3 ") {
		t.Errorf("caught up: %+v, %+v", rows[1], q)
	}
}

func TestReplicationLine(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	cases := []struct {
		rows []memberRow
		want string
	}{
		{[]memberRow{{NodeID: "node1"}}, "replication: no backend could be asked"},
		{[]memberRow{{NodeID: "node1", UnderReplicated: n(0)}, {NodeID: "node2", UnderReplicated: n(0)}},
			"replication: every mailbox has its copies"},
		{[]memberRow{{NodeID: "node1", UnderReplicated: n(3)}, {NodeID: "node2"}, {NodeID: "node3", UnderReplicated: n(2)}},
			"replication: 5 mailboxes short of copies (node1: 3, node3: 2); their primaries restore them after restore_after"},
	}
	for _, c := range cases {
		if got := replicationLine(c.rows); got != c.want {
			t.Errorf("got %q\nwant %q", got, c.want)
		}
	}
}
