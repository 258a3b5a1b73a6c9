package statuspage

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fiveNodes is a cluster with a leader, a lagging follower, a node that
// did not answer, a frontend-only non-voter and three backends.
func fiveNodes() Cluster {
	return Cluster{
		Nodes: []Node{
			{ID: "mx3", Roles: []string{"directory", "backend"}, RaftState: "Follower", Voter: true, LeaderID: "mx1", Term: 4, CommitIndex: 990, AppliedIndex: 950, LastContact: now.Add(-40 * time.Millisecond)},
			{ID: "mx1", Roles: []string{"directory", "backend", "frontend"}, RaftState: "Leader", Voter: true, LeaderID: "mx1", Term: 4, CommitIndex: 1000, AppliedIndex: 1000},
			{ID: "mx2", Roles: []string{"directory", "backend"}, RaftState: "Follower", Voter: true, LeaderID: "mx1", Term: 4, CommitIndex: 1000, AppliedIndex: 1000, LastContact: now.Add(-12 * time.Millisecond)},
			{ID: "mx4", Roles: []string{"directory"}, Error: "dial tcp 10.0.0.4:7001: connection refused"},
			{ID: "edge1", Roles: []string{"frontend"}, RaftState: "Follower", LeaderID: "mx1", Term: 4, CommitIndex: 1000, AppliedIndex: 998, LastContact: now.Add(-30 * time.Millisecond)},
		},
		Backends: []Backend{
			{ID: "mx2", State: "up", Primaries: 340, Replicas: 310},
			{ID: "mx1", State: "up", Primaries: 410, Replicas: 290},
			{ID: "mx3", State: "draining", Primaries: 150, Replicas: 300},
		},
		Replication: []Replica{
			{Primary: "mx1", Replica: "mx2", InSync: true, Lag: 0},
			{Primary: "mx3", Replica: "mx1", InSync: false, Lag: 3500 * time.Millisecond, Pending: 42},
			{Primary: "mx2", Replica: "mx3", InSync: true, Lag: -1},
		},
	}
}

func TestSummarize(t *testing.T) {
	v := summarize(fiveNodes(), now)
	if v.Leader != "mx1" || v.Term != 4 {
		t.Errorf("leader %q term %d", v.Leader, v.Term)
	}
	// mx1, mx2, mx3 answered as voters; mx4 is a directory node that did
	// not answer, so it counts as a voter that is not healthy.
	if v.Voters != 4 || v.Healthy != 3 || v.Quorum != 3 || v.CanLose != 0 {
		t.Errorf("voters %d healthy %d quorum %d can lose %d", v.Voters, v.Healthy, v.Quorum, v.CanLose)
	}
	if v.Mailboxes != 900 {
		t.Errorf("mailboxes %d", v.Mailboxes)
	}
	byID := map[string]nodeView{}
	var order []string
	for _, n := range v.Nodes {
		byID[n.ID] = n
		order = append(order, n.ID)
	}
	if strings.Join(order, ",") != "edge1,mx1,mx2,mx3,mx4" {
		t.Errorf("order %v", order)
	}
	for id, want := range map[string]struct {
		lag     int64
		health  string
		contact string
	}{
		"mx1":   {0, "ok", ""},
		"mx3":   {50, "ok", "40ms"},
		"edge1": {2, "ok", "30ms"},
		"mx4":   {-1, "unreachable", ""},
	} {
		n := byID[id]
		if n.Lag != want.lag || n.Health != want.health || n.LastContact != want.contact {
			t.Errorf("%s: lag %d health %q contact %q, want %+v", id, n.Lag, n.Health, n.LastContact, want)
		}
	}
	if v.Backends[0].ID != "mx1" || len(v.Replication) != 3 || *v.Replication[1].LagSec != 3.5 || v.Replication[2].LagSec != nil {
		t.Errorf("backends %v replication %v", v.Backends, v.Replication)
	}

	noLeader := summarize(Cluster{Nodes: []Node{{ID: "a", RaftState: "Candidate", Voter: true, Term: 9, CommitIndex: 5}}}, now)
	if noLeader.Leader != "" || noLeader.Nodes[0].Health != "no leader" || noLeader.Nodes[0].Lag != -1 || noLeader.Healthy != 0 {
		t.Errorf("no leader: %+v", noLeader)
	}
	empty := summarize(Cluster{}, now)
	if b, _ := json.Marshal(empty); strings.Contains(string(b), "null") {
		t.Errorf("empty cluster renders null lists: %s", b)
	}
}

type fixedSource struct {
	c     Cluster
	err   error
	calls atomic.Int64
}

func (f *fixedSource) ClusterStatus(ctx context.Context) (Cluster, error) {
	f.calls.Add(1)
	return f.c, f.err
}

// servePage runs the page on a real loopback listener at /status.
func servePage(t *testing.T, src Source) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := New(src, nil)
	p.now = func() time.Time { return now }
	mux := http.NewServeMux()
	mux.Handle("/status", p)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return "http://" + ln.Addr().String() + "/status"
}

func fetch(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestHandler(t *testing.T) {
	src := &fixedSource{c: fiveNodes()}
	url := servePage(t, src)

	resp, body := fetch(t, url+"?format=json")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var v view
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Leader != "mx1" || len(v.Nodes) != 5 {
		t.Fatalf("json %v: %s", err, body)
	}

	resp, body = fetch(t, url)
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.Contains(body, "<script nonce=") || !strings.Contains(csp, "script-src 'nonce-") {
		t.Fatalf("html: %d csp %q", resp.StatusCode, csp)
	}
	if strings.Contains(body, "src=\"http") || strings.Contains(body, "href=\"http") {
		t.Error("page loads something from elsewhere")
	}
	// The nonce in the header is the one in the page.
	nonce := strings.SplitN(strings.SplitN(csp, "'nonce-", 2)[1], "'", 2)[0]
	if !strings.Contains(body, `nonce="`+nonce+`"`) {
		t.Errorf("page nonce differs from the header's %q", nonce)
	}

	src.err = errors.New("no member answered")
	resp, body = fetch(t, url+"?format=json")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "no member answered") {
		t.Fatalf("source error: %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodPost, url, nil)
	r, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", r.StatusCode)
	}
}

// oneDown is a three-voter cluster whose node3 died 90 seconds before at:
// gossip lists it failed, and the directory still has node1's mailboxes
// in sync on it.
func oneDown(at time.Time) Cluster {
	return Cluster{
		Nodes: []Node{
			{ID: "node1", Roles: []string{"directory", "backend"}, RaftState: "Leader", Voter: true, LeaderID: "node1", Term: 2, CommitIndex: 50, AppliedIndex: 50, Voters: 3},
			{ID: "node2", Roles: []string{"directory", "backend"}, RaftState: "Follower", Voter: true, LeaderID: "node1", Term: 2, CommitIndex: 50, AppliedIndex: 50, Voters: 3},
			{ID: "node3", Roles: []string{"directory", "backend"}, Error: "down", DownSince: at.Add(-90 * time.Second)},
		},
		Backends: []Backend{{ID: "node1", State: "up", Primaries: 1}},
		Replication: []Replica{
			{Primary: "node1", Replica: "node2", InSync: true, Lag: 0},
			{Primary: "node1", Replica: "node3", InSync: true, Lag: -1},
		},
	}
}

// TestSummarizeNodeDown checks the figures with a voter down: it is listed
// as down with how long, the voters are those of the leader's Raft
// configuration, and replication to it is not "ok".
func TestSummarizeNodeDown(t *testing.T) {
	v := summarize(oneDown(now), now)
	if v.Voters != 3 || v.Healthy != 2 || v.Quorum != 2 || v.CanLose != 0 {
		t.Errorf("voters %d healthy %d quorum %d can lose %d, want 3, 2, 2, 0", v.Voters, v.Healthy, v.Quorum, v.CanLose)
	}
	var dead *nodeView
	for i := range v.Nodes {
		if v.Nodes[i].ID == "node3" {
			dead = &v.Nodes[i]
		}
	}
	if dead == nil || dead.Health != "down" || dead.DownFor != "1m30s" || dead.Lag != -1 {
		t.Fatalf("node3: %+v", dead)
	}
	for _, r := range v.Replication {
		want := map[string]string{"node2": "ok", "node3": "replica down"}[r.Replica]
		if r.State != want {
			t.Errorf("replication %s to %s: %q, want %q", r.Primary, r.Replica, r.State, want)
		}
	}
}
