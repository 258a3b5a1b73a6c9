package node

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/clusterapi"
	"github.com/rookery-mail/rookery/metrics"
	"github.com/rookery-mail/rookery/replication"
	"github.com/rookery-mail/rookery/spool"
	"github.com/rookery-mail/rookery/statuspage"
)

// withReplicationLag sets the replication gauges from the backend before
// each scrape: they describe the replicas of this backend's mailboxes.
func (n *Node) withReplicationLag(h http.Handler) http.Handler {
	var mu sync.Mutex
	seen := map[string]bool{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b := n.backend; b != nil {
			mu.Lock()
			now := map[string]bool{}
			for _, l := range b.Replication().ReplicaLags() {
				behind, pending := l.Behind, 0
				if !l.InSync {
					pending = l.Mailboxes
				}
				n.metrics.ReplicationLag(l.Replica, max(behind, 0), pending)
				now[l.Replica] = true
			}
			for rid := range seen {
				if !now[rid] {
					n.metrics.ForgetReplica(rid)
				}
			}
			seen = now
			st := b.Replication().Stats()
			n.metrics.ReplicationRestore(st.UnderReplicated, st.Restored)
			mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}

// replicaLags is the status page's view of the replicas of every backend
// it can reach: this node's own from its replicator, the other up
// backends' from their cluster API (GET /v1/backend/replication), asked at
// once with a deadline so that one slow backend leaves only its own rows
// unknown.
func (n *Node) replicaLags(ctx context.Context) []statuspage.Replica {
	var out []statuspage.Replica
	local := ""
	if b := n.backend; b != nil {
		local = n.cfg.Backend.ID
		for _, l := range b.Replication().ReplicaLags() {
			out = append(out, replicaRow(local, l.Replica, l.InSync, l.Behind, l.Mailboxes))
		}
	}
	f, err := n.dir.Read(ctx, directory.Local)
	if err != nil {
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, b := range f.Backends() {
		if b.ID == local || b.State != fsm.BackendUp || b.APIAddr == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := replication.StatsRemote(ctx, n.statusAPI, b.APIAddr)
			if err != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, l := range st.Replicas {
				behind := time.Duration(-1)
				if l.BehindSeconds >= 0 {
					behind = time.Duration(l.BehindSeconds * float64(time.Second))
				}
				out = append(out, replicaRow(b.ID, l.Replica, l.InSync, behind, l.Mailboxes))
			}
		}()
	}
	wg.Wait()
	return out
}

func replicaRow(primary, replica string, inSync bool, behind time.Duration, mailboxes int) statuspage.Replica {
	r := statuspage.Replica{Primary: primary, Replica: replica, InSync: inSync, Lag: behind}
	if !inSync {
		r.Pending = mailboxes
	}
	return r
}

// spoolStats reads the store's counters for the spool collector.
type spoolStats struct{ s *spool.Store }

func (st spoolStats) SpoolStats() metrics.SpoolStats {
	s := st.s.Stats()
	return metrics.SpoolStats{Mailboxes: s.Mailboxes, Messages: s.Messages, Bytes: s.Bytes}
}

// counted wraps serve so that every connection its listener accepts is
// counted in the node's metrics under name, open and in total.
func (n *Node) counted(name string, serve func(net.Listener) error) func(net.Listener) error {
	return func(ln net.Listener) error { return serve(&countingListener{Listener: ln, name: name, m: n.metrics}) }
}

type countingListener struct {
	net.Listener
	name string
	m    *metrics.Metrics
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: c, closed: l.m.Connection(l.name)}, nil
}

// countedConn reports its close once, however often Close is called.
type countedConn struct {
	net.Conn
	once   sync.Once
	closed func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.closed)
	return c.Conn.Close()
}

// startAdminHTTP serves what operators and their tools read without the
// cluster secret, on the admin listener: Prometheus /metrics, /healthz
// (the process answers), /readyz (the directory has a leader and the
// node's roles serve) and the live status page at /status.
func (n *Node) startAdminHTTP(addr string, log *slog.Logger) error {
	if addr == "" {
		return nil
	}
	m := n.metrics
	if err := m.RegisterRaft(n.dir); err != nil {
		return err
	}
	if n.store != nil {
		if err := m.RegisterSpool(spoolStats{n.store}); err != nil {
			return err
		}
	}
	checks := []metrics.Check{metrics.LeaderCheck(n.dir)}
	if n.cfg.Has(RoleBackend) {
		checks = append(checks, metrics.Check{Name: "backend", Ready: func(context.Context) error {
			if n.backend == nil {
				return ErrNotServing
			}
			return nil
		}})
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", n.withReplicationLag(m.Handler()))
	mux.Handle("GET /healthz", metrics.Healthz())
	mux.Handle("GET /readyz", metrics.Readyz(checks...))
	n.statusAPI = clusterapi.NewClient(n.cfg.ClusterSecret,
		&http.Client{Transport: clusterapi.Transport(n.cfg.dialer(), n.cfg.TLS.Client)}, n.cfg.TLS.Client != nil, nil)
	page := statuspage.New(statuspage.DirectorySource(n.dir, n.replicaLags), log)
	mux.Handle("GET /status", page)
	mux.Handle("GET /{$}", http.RedirectHandler("/status", http.StatusFound))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	return n.serve(ListenAdmin, addr, "tcp", srv.Serve, srv.Close)
}
