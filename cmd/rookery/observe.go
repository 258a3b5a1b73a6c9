package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/rookery-mail/rookery/metrics"
	"github.com/rookery-mail/rookery/statuspage"
)

var errNotServing = errors.New("not serving")

// startAdminHTTP serves what operators and their tools read without the
// cluster secret, on the admin listener: Prometheus /metrics, /healthz
// (the process answers), /readyz (the directory has a leader and the
// node's roles serve) and the live status page at /status.
func (n *node) startAdminHTTP(addr string, log *slog.Logger) error {
	if addr == "" {
		return nil
	}
	m := metrics.New(n.cfg.NodeID)
	if err := m.RegisterRaft(n.dir); err != nil {
		return err
	}
	checks := []metrics.Check{metrics.LeaderCheck(n.dir)}
	if n.cfg.Has(roleBackend) {
		checks = append(checks, metrics.Check{Name: "backend", Ready: func(context.Context) error {
			if n.backend == nil {
				return errNotServing
			}
			return nil
		}})
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("GET /healthz", metrics.Healthz())
	mux.Handle("GET /readyz", metrics.Readyz(checks...))
	page := statuspage.New(statuspage.DirectorySource(n.dir, nil), log)
	mux.Handle("GET /status", page)
	mux.Handle("GET /{$}", http.RedirectHandler("/status", http.StatusFound))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	return n.serve(addr, "tcp", srv.Serve, srv.Close)
}
