package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// serve runs h on a real loopback listener for the test's life.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func wantLines(t *testing.T, body string, lines ...string) {
	t.Helper()
	have := map[string]bool{}
	for _, l := range strings.Split(body, "\n") {
		have[l] = true
	}
	for _, l := range lines {
		if !have[l] {
			t.Errorf("missing line %q", l)
		}
	}
}

type fakeSpool struct{ s SpoolStats }

func (f fakeSpool) SpoolStats() SpoolStats { return f.s }

func TestScrape(t *testing.T) {
	m := New("node1")
	stats := map[string]string{"state": "Follower", "term": "7", "commit_index": "120", "applied_index": "118",
		"last_log_index": "121", "last_snapshot_index": "100", "fsm_pending": "2", "num_peers": "2", "last_contact": "1.5s"}
	var mu sync.Mutex
	if err := m.RegisterRaft(RaftStatsFunc(func() map[string]string {
		mu.Lock()
		defer mu.Unlock()
		return stats
	})); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterSpool(fakeSpool{SpoolStats{Mailboxes: 3, Messages: 40, Bytes: 123456}}); err != nil {
		t.Fatal(err)
	}
	m.IMAPCommand("select", "OK", 3*time.Millisecond)
	m.IMAPCommand("SELECT", "ok", 4*time.Millisecond)
	m.IMAPCommand("XYZZY-made-up", "weird", time.Millisecond)
	m.LMTPCommand("DATA", "250", 20*time.Millisecond)
	m.LMTPCommand("rcpt", "451", time.Millisecond)
	m.DirectoryApply("MailboxReserve", "ok")
	m.ForwardedWrite("ok", 2*time.Millisecond)
	m.SyncedRead("timeout", time.Second)
	closed := m.Connection("imap")
	m.Connection("imap")
	closed()
	m.ReplicationLag("b2", 1500*time.Millisecond, 17)
	m.ReplicationLag("b3", 0, 0)
	m.ForgetReplica("b3")
	m.ReplicationRestore(4, 96)

	url := serve(t, m.Handler())
	code, body := get(t, url)
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	wantLines(t, body,
		`rookery_replication_under_replicated_mailboxes{node_id="node1"} 4`,
		`rookery_replication_restored_copies{node_id="node1"} 96`,
		`rookery_imap_commands_total{command="SELECT",node_id="node1",result="ok"} 2`,
		`rookery_imap_commands_total{command="OTHER",node_id="node1",result="other"} 1`,
		`rookery_imap_command_seconds_count{command="SELECT",node_id="node1"} 2`,
		`rookery_lmtp_commands_total{command="DATA",node_id="node1",result="ok"} 1`,
		`rookery_lmtp_commands_total{command="RCPT",node_id="node1",result="tempfail"} 1`,
		`rookery_directory_applies_total{node_id="node1",result="ok",type="MailboxReserve"} 1`,
		`rookery_directory_forwarded_writes_total{node_id="node1",result="ok"} 1`,
		`rookery_directory_synced_reads_total{node_id="node1",result="timeout"} 1`,
		`rookery_directory_synced_read_seconds_count{node_id="node1"} 1`,
		`rookery_connections_open{listener="imap",node_id="node1"} 1`,
		`rookery_connections_total{listener="imap",node_id="node1"} 2`,
		`rookery_replication_lag_seconds{node_id="node1",replica="b2"} 1.5`,
		`rookery_replication_pending_mailboxes{node_id="node1",replica="b2"} 17`,
		`rookery_raft_state{node_id="node1",state="Follower"} 1`,
		`rookery_raft_state{node_id="node1",state="Leader"} 0`,
		`rookery_raft_term{node_id="node1"} 7`,
		`rookery_raft_commit_index{node_id="node1"} 120`,
		`rookery_raft_applied_index{node_id="node1"} 118`,
		`rookery_raft_fsm_pending{node_id="node1"} 2`,
		`rookery_raft_peers{node_id="node1"} 2`,
		`rookery_raft_last_contact_seconds{node_id="node1"} 1.5`,
		`rookery_spool_mailboxes{node_id="node1"} 3`,
		`rookery_spool_messages{node_id="node1"} 40`,
		`rookery_spool_bytes{node_id="node1"} 123456`,
	)
	if strings.Contains(body, `replica="b3"`) {
		t.Error("forgotten replica still reported")
	}
	if !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_") {
		t.Error("runtime and process collectors missing")
	}

	// The collector reads Raft afresh at every scrape.
	mu.Lock()
	stats = map[string]string{"state": "Leader", "term": "8", "last_contact": "0"}
	mu.Unlock()
	_, body = get(t, url)
	wantLines(t, body,
		`rookery_raft_state{node_id="node1",state="Leader"} 1`,
		`rookery_raft_state{node_id="node1",state="Follower"} 0`,
		`rookery_raft_term{node_id="node1"} 8`,
		`rookery_raft_last_contact_seconds{node_id="node1"} 0`)
	if strings.Contains(body, "rookery_raft_commit_index") {
		t.Error("a missing stat was reported")
	}

	mu.Lock()
	stats = map[string]string{"state": "Follower", "last_contact": "never"}
	mu.Unlock()
	if _, body = get(t, url); strings.Contains(body, "rookery_raft_last_contact_seconds") {
		t.Error("last contact reported before any contact")
	}
	if err := m.RegisterRaft(RaftStatsFunc(func() map[string]string { return nil })); err == nil {
		t.Error("a second Raft collector was accepted")
	}
}

func TestNilMetricsRecordsNothing(t *testing.T) {
	var m *Metrics
	m.IMAPCommand("SELECT", "ok", time.Millisecond)
	m.LMTPCommand("DATA", "ok", time.Millisecond)
	m.DirectoryApply("x", "ok")
	m.ForwardedWrite("ok", 0)
	m.SyncedRead("ok", 0)
	m.ReplicationLag("b", 0, 0)
	m.ForgetReplica("b")
	m.Connection("imap")()
}

type leader string

func (l leader) Leader() (string, string) { return string(l), "" }

func TestHealthAndReadiness(t *testing.T) {
	var mu sync.Mutex
	var backendErr error = errors.New("spool not open")
	backend := Check{Name: "backend", Ready: func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		return backendErr
	}}
	mux := http.NewServeMux()
	mux.Handle("/healthz", Healthz())
	mux.Handle("/readyz", Readyz(LeaderCheck(leader("node2")), backend))
	mux.Handle("/readyz-noleader", Readyz(LeaderCheck(leader(""))))
	url := serve(t, mux)

	if code, body := get(t, url+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz %d %q", code, body)
	}
	code, body := get(t, url+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "backend: spool not open") ||
		!strings.Contains(body, "directory_leader: ok") {
		t.Fatalf("readyz with a failing role: %d %q", code, body)
	}
	mu.Lock()
	backendErr = nil
	mu.Unlock()
	if code, body = get(t, url+"/readyz"); code != 200 || !strings.HasPrefix(body, "ready\n") {
		t.Fatalf("readyz when ready: %d %q", code, body)
	}
	if code, body = get(t, url+"/readyz-noleader"); code != http.StatusServiceUnavailable || !strings.Contains(body, ErrNoLeader.Error()) {
		t.Fatalf("readyz without a leader: %d %q", code, body)
	}
}
