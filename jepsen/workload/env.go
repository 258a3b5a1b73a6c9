// Package workload drives a Rookery cluster as clients would, over IMAP,
// LMTP and the cluster API, and records every operation into a
// jepsen/history recorder in the shape jepsen/checker reads.
//
// A process is one client connection: when a connection breaks or an
// operation's outcome is unknown, the client opens a new connection under a
// new process number, as Jepsen does, so that each process's operations are
// sequential and its own.
package workload

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rookery-mail/rookery/jepsen/history"
)

// Node is how clients reach one node.
type Node struct {
	Name string // n1, n2, ...
	IMAP string // the frontend's IMAP address (its proxy)
	LMTP string // the frontend's LMTP address (its proxy)
	API  string // the cluster API (its proxy)
}

// Env is what every workload shares in a run.
type Env struct {
	Nodes   []Node
	Secret  string // cluster API bearer token
	Rec     *history.Recorder
	Timeout time.Duration // one operation; past it the outcome is info
	Log     *slog.Logger
	// AddUser adds a user and its INBOX (through rookery admin).
	AddUser func(ctx context.Context, name, password string) error

	seed    int64
	procs   atomic.Int64
	limiter *limiter
}

// NewEnv makes an Env whose operations, across all workloads, are limited
// to rate a second (0: unlimited) and whose random choices follow seed.
func NewEnv(nodes []Node, secret string, rec *history.Recorder, rate float64, seed int64, log *slog.Logger) *Env {
	return &Env{Nodes: nodes, Secret: secret, Rec: rec, Timeout: 10 * time.Second, Log: log,
		seed: seed, limiter: newLimiter(rate)}
}

// process returns a new process number.
func (e *Env) process() int { return int(e.procs.Add(1) - 1) }

// rand returns a random source for one client, from the run's seed.
func (e *Env) rand(client int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(e.seed), uint64(client)+0x776f726b))
}

// wait takes a token from the rate limiter; false when ctx ended first.
func (e *Env) wait(ctx context.Context) bool { return e.limiter.wait(ctx) }

// invoke records the start of an operation.
func (e *Env) invoke(process int, f, key, node string, v history.Value) history.Pending {
	return e.Rec.Invoke(history.Op{Process: process, F: f, Key: key, Node: node, Value: v})
}

// complete records how an operation ended.
func (e *Env) complete(p history.Pending, o history.Outcome, v history.Value, errText string) {
	if err := e.Rec.Complete(p, o, v, errText); err != nil {
		e.Log.Error("recording an operation failed", "error", err)
	}
}

// limiter hands out one token every 1/rate seconds; tokens do not pile up
// while nobody takes them.
type limiter struct {
	mu    sync.Mutex
	every time.Duration
	next  time.Time
}

func newLimiter(rate float64) *limiter {
	if rate <= 0 {
		return &limiter{}
	}
	return &limiter{every: time.Duration(float64(time.Second) / rate)}
}

func (l *limiter) wait(ctx context.Context) bool {
	if l.every == 0 || ctx.Err() != nil {
		return ctx.Err() == nil
	}
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	at := l.next
	l.next = l.next.Add(l.every)
	l.mu.Unlock()
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Workload is one kind of client load with its own users and names.
type Workload interface {
	Name() string
	// Setup creates the users and mailboxes the workload needs; it records
	// nothing.
	Setup(ctx context.Context, env *Env) error
	// Run drives the cluster until ctx ends.
	Run(ctx context.Context, env *Env)
	// Final reads what the checkers need once the cluster has healed.
	Final(ctx context.Context, env *Env)
}

// New returns the named workload; clients is how many concurrent clients
// it runs.
func New(name string, clients int) (Workload, error) {
	switch name {
	case "directory":
		return &Directory{Clients: clients, Names: 6}, nil
	case "read-your-writes":
		return &ReadYourWrites{Clients: clients}, nil
	case "ownership":
		return &Ownership{Clients: clients, Names: 5}, nil
	case "uid":
		return &UID{Clients: clients, Mailboxes: 3}, nil
	case "lmtp":
		return &LMTP{Clients: clients, Users: 3}, nil
	case "list":
		return &List{Clients: clients}, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownWorkload, name)
}

// Names lists the workloads New knows.
func Names() []string {
	return []string{"directory", "read-your-writes", "ownership", "uid", "lmtp", "list"}
}

// runClients runs n copies of client until ctx ends and waits for them.
func runClients(ctx context.Context, n int, client func(ctx context.Context, id int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client(ctx, i)
		}()
	}
	wg.Wait()
}

// retry calls f until it succeeds, ctx ends or attempts run out.
func retry(ctx context.Context, attempts int, f func() error) error {
	var err error
	for i := 0; i < attempts; i++ {
		if err = f(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return err
}
