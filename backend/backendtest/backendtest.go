// Package backendtest starts a real backend for tests: one node, as
// internal/node assembles it in production, that is the single directory
// voter on loopback and the backend, with its spool in a temporary
// directory and IMAP and LMTP on free loopback ports.
package backendtest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/backend"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/node"
	"github.com/rookery-mail/rookery/internal/testcluster"
	"github.com/rookery-mail/rookery/spool"
)

// Secret is the cluster secret of every test backend.
const Secret = "backendtest-cluster-secret"

// BackendID is the id the test backend registers under.
const BackendID = "b1"

// Env is a running backend with its directory and store.
type Env struct {
	T        testing.TB
	Dir      *directory.Node
	Store    *spool.Store
	StoreDir string
	Backend  *backend.Backend
	Logger   *slog.Logger
	// Node is the whole node Dir, Store and Backend belong to.
	Node *node.Node

	cfg node.Config
}

// Logger discards logs unless ROOKERY_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("ROOKERY_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Ctx is a context that ends with the test or after a minute.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// StartDirectory opens a single-voter directory and waits until it leads.
func StartDirectory(t testing.TB) *directory.Node {
	t.Helper()
	cfg := directory.Default()
	cfg.NodeID = "n1"
	cfg.DataDir = t.TempDir()
	cfg.Roles = []string{directory.RoleDirectory, directory.RoleBackend}
	cfg.RaftAddr = "127.0.0.1:0"
	cfg.APIAddr = "127.0.0.1:0"
	cfg.GossipAddr = "127.0.0.1:0"
	cfg.ClusterSecret = Secret
	cfg.BootstrapExpect = 1
	testcluster.Timings(&cfg)
	cfg.Logger = Logger()
	node, err := directory.Open(cfg)
	if err != nil {
		t.Fatalf("open directory: %v", err)
	}
	t.Cleanup(func() { node.Close() })
	testcluster.WaitFor(t, "directory leader", node.IsLeader)
	return node
}

// Start runs a backend over a fresh directory and store.
func Start(t testing.TB) *Env {
	t.Helper()
	e := &Env{T: t, Logger: Logger()}
	cfg := node.Default()
	cfg.NodeID = "n1"
	cfg.DataDir = t.TempDir()
	cfg.Roles = []string{node.RoleDirectory, node.RoleBackend}
	cfg.ClusterSecret = Secret
	cfg.Logger = e.Logger
	d := &cfg.Directory
	// The Raft address is fixed, so that the node started again keeps it.
	d.RaftAddr, d.APIAddr, d.GossipAddr = testcluster.FreeAddr(t), "127.0.0.1:0", "127.0.0.1:0"
	d.BootstrapExpect = 1
	testcluster.Timings(d)
	cfg.Backend.ID = BackendID
	// Fixed before the node starts: its gossip tags carry them.
	cfg.Backend.IMAPAddr, cfg.Backend.LMTPAddr = testcluster.FreeAddr(t), testcluster.FreeAddr(t)
	e.cfg = cfg
	e.StoreDir = filepath.Join(cfg.DataDir, "spool")
	e.StartBackend()
	return e
}

// StartBackend starts the node over its directory data and store: at
// first, or again after Backend.Close, as a restart of the backend's
// process would (the backend reconciles its spool with the directory).
// Dir, Store and Backend then name the new node's.
func (e *Env) StartBackend() {
	e.T.Helper()
	if e.Node != nil {
		e.Node.Close()
	}
	n, err := node.New(e.cfg)
	if err != nil {
		e.T.Fatalf("open node: %v", err)
	}
	e.T.Cleanup(func() { n.Close() })
	testcluster.WaitFor(e.T, "directory leader", n.Directory().IsLeader)
	if err := n.Start(Ctx(e.T)); err != nil {
		e.T.Fatalf("start backend: %v", err)
	}
	e.Node, e.Dir, e.Store, e.Backend = n, n.Directory(), n.Store(), n.Backend()
}

// AddUser adds a user with password pw and creates their INBOX.
func (e *Env) AddUser(name, pw string) {
	e.T.Helper()
	hash, err := auth.HashPasswordCost(pw, bcrypt.MinCost)
	if err != nil {
		e.T.Fatal(err)
	}
	ctx := Ctx(e.T)
	res, err := e.Dir.Apply(ctx, fsm.UserAdd{Name: name, PasswordHash: hash, At: time.Now().UnixNano()})
	if err != nil || res.Err != nil {
		e.T.Fatalf("add user %s: %v %v", name, err, res.Err)
	}
	if err := e.Dir.WaitApplied(ctx, res.Index); err != nil {
		e.T.Fatal(err)
	}
	if _, err := e.Backend.Create(ctx, fsm.Inbox(name), ""); err != nil {
		e.T.Fatalf("create inbox of %s: %v", name, err)
	}
}

// Apply applies cmd and fails the test on any error.
func (e *Env) Apply(cmd fsm.Command) fsm.Result {
	e.T.Helper()
	ctx := Ctx(e.T)
	res, err := e.Dir.Apply(ctx, cmd)
	if err != nil || res.Err != nil {
		e.T.Fatalf("apply %T: %v %v", cmd, err, res.Err)
	}
	if err := e.Dir.WaitApplied(ctx, res.Index); err != nil {
		e.T.Fatal(err)
	}
	return res
}
