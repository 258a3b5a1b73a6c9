package metrics

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Healthz answers 200 while the process can serve HTTP at all: the liveness
// probe. It checks nothing else on purpose, so that a node waiting out a
// leader election is not restarted by its supervisor.
func Healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintln(w, "ok")
	})
}

// Check is one readiness condition. Ready must honour ctx and return
// quickly; nil means ready.
type Check struct {
	Name  string
	Ready func(ctx context.Context) error
}

// LeaderSource is the directory node's view of the leader.
type LeaderSource interface {
	Leader() (id, apiAddr string)
}

// LeaderCheck is ready when the directory knows a leader.
func LeaderCheck(src LeaderSource) Check {
	return Check{Name: "directory_leader", Ready: func(context.Context) error {
		if id, _ := src.Leader(); id == "" {
			return ErrNoLeader
		}
		return nil
	}}
}

// readyTimeout bounds all the checks of one /readyz request together.
const readyTimeout = 2 * time.Second

// Readyz answers 200 when every check passes and 503 otherwise, one line
// per check either way, so a load balancer sends clients only to nodes whose
// roles serve and an operator with curl sees why a node is not ready.
func Readyz(checks ...Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		var b strings.Builder
		failed := 0
		for _, c := range checks {
			if err := c.Ready(ctx); err != nil {
				failed++
				fmt.Fprintf(&b, "%s: %v\n", c.Name, err)
			} else {
				fmt.Fprintf(&b, "%s: ok\n", c.Name)
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if failed > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "%v: %d of %d checks failed\n", ErrNotReady, failed, len(checks))
		} else {
			fmt.Fprintln(w, "ready")
		}
		fmt.Fprint(w, b.String())
	})
}
