// Package node assembles a Rookery node from a Config: the directory node
// every process runs (a Raft voter with the directory role, a non-voter
// otherwise), the backend role with its spool and replication, the
// frontend role with the IMAP and LMTP proxies, the cluster API routes,
// node TLS, the metrics Observer and the admin listener with the status
// page. `rookery node`, `rookery dev` and the test clusters all build their
// nodes here, so that what runs in a test is what runs in production.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rookery-mail/rookery/backend"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/imapfront"
	"github.com/rookery-mail/rookery/internal/clusterapi"
	"github.com/rookery-mail/rookery/lmtp"
	"github.com/rookery-mail/rookery/metrics"
	"github.com/rookery-mail/rookery/spool"
)

// Node is one process's roles, closed in the reverse order of their start.
type Node struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics.Metrics
	dir     *directory.Node
	// statusAPI asks other backends for the status page's figures.
	statusAPI *clusterapi.Client

	// Set by Start, read-only afterwards.
	store   *spool.Store
	backend *backend.Backend
	imap    *imapfront.Server
	// penaltyTo is the IMAP frontend once it runs, for failed-login
	// hints gossip delivers (penalty.go).
	penaltyTo atomic.Pointer[imapfront.Server]
	lmtp      *lmtp.Server
	accounts  *passwords          // the frontend's password checks (accounts.go)
	bound     map[string]net.Addr // listener name -> bound address
	started   bool
	closers   []func() error
	closing   sync.Once
	closeErr  error
}

// New validates cfg and opens the directory node. The other roles start
// with Start, once the directory has a leader: a fresh cluster's voters
// must all be opened before any of them can start.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.checkTLS(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{cfg: cfg, log: cfg.Logger, metrics: metrics.New(cfg.NodeID), bound: map[string]net.Addr{}}
	d, err := directory.Open(n.directoryConfig())
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	n.dir = d
	n.closers = append(n.closers, d.Close)
	return n, nil
}

// directoryConfig is cfg.Directory with the fields the node owns set.
func (n *Node) directoryConfig() directory.Config {
	cfg := n.cfg
	dcfg := cfg.Directory
	dcfg.NodeID = cfg.NodeID
	dcfg.DataDir = filepath.Join(cfg.DataDir, "directory")
	dcfg.Roles = cfg.Roles
	dcfg.SourceIP = cfg.SourceIP
	dcfg.ClusterSecret = cfg.ClusterSecret
	dcfg.ServerTLS, dcfg.ClientTLS, dcfg.GossipKey = cfg.TLS.Server, cfg.TLS.Client, cfg.TLS.GossipKey
	dcfg.Logger = n.log.With("role", "directory")
	dcfg.Observer = n.metrics
	if cfg.Has(RoleFrontend) {
		dcfg.OnHint(directory.HintLoginPenalty, n.penaltyHint)
	}
	if cfg.Has(RoleBackend) {
		dcfg.Tags = map[string]string{
			directory.TagBackendID: cfg.Backend.ID,
			directory.TagIMAPAddr:  advertised(cfg.Backend.IMAPAdvertise, cfg.Backend.IMAPAddr),
			directory.TagLMTPAddr:  advertised(cfg.Backend.LMTPAdvertise, cfg.Backend.LMTPAddr),
		}
		if cfg.Backend.POP3Addr != "" {
			dcfg.Tags[directory.TagPOP3Addr] = advertised(cfg.Backend.POP3Advertise, cfg.Backend.POP3Addr)
		}
	}
	return dcfg
}

// Start waits until the directory can serve a synced read (the cluster
// has a leader and this node has caught up), then starts the backend and
// frontend roles the config names and the admin listener.
func (n *Node) Start(ctx context.Context) error {
	if n.started {
		return ErrStarted
	}
	n.started = true
	if err := n.waitForDirectory(ctx); err != nil {
		return err
	}
	if n.cfg.Has(RoleBackend) {
		if err := n.startBackend(ctx, n.log.With("role", "backend")); err != nil {
			return fmt.Errorf("backend: %w", err)
		}
	}
	if n.cfg.Has(RoleFrontend) {
		if err := n.startFrontend(n.log.With("role", "frontend")); err != nil {
			return fmt.Errorf("frontend: %w", err)
		}
	}
	if err := n.startAdminHTTP(n.cfg.AdminAddr, n.log.With("component", "admin_http")); err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	return nil
}

// Run starts the node, serves until ctx ends and closes it.
func (n *Node) Run(ctx context.Context) error {
	if err := n.Start(ctx); err != nil {
		n.Close()
		return err
	}
	n.log.Info("node running", "node_id", n.cfg.NodeID, "roles", n.cfg.Roles)
	<-ctx.Done()
	n.log.Info("node stopping", "node_id", n.cfg.NodeID)
	return n.Close()
}

// Close stops every role in the reverse order of its start; a second
// Close returns the first one's result.
func (n *Node) Close() error {
	n.closing.Do(func() {
		var errs []error
		for i := len(n.closers) - 1; i >= 0; i-- {
			errs = append(errs, n.closers[i]())
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

func (n *Node) waitForDirectory(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := n.dir.Read(rctx, directory.Synced)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if attempt%6 == 0 {
			n.log.Info("waiting for the directory to have a leader", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
