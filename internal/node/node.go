// Package node assembles a Rookery node's roles (directory voter or
// non-voter, backend, frontend) from a Config.
package node

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/rookery-mail/rookery/backend"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/metrics"
	"github.com/rookery-mail/rookery/spool"
)

// Node is one running process's roles, closed in the reverse order of
// their start.
type Node struct {
	cfg     Config
	dir     *directory.Node
	backend *backend.Backend
	store   *spool.Store
	tls     nodeTLS
	metrics *metrics.Metrics
	closers []func() error
}

func (n *Node) Close() error {
	var errs []error
	for i := len(n.closers) - 1; i >= 0; i-- {
		errs = append(errs, n.closers[i]())
	}
	return errors.Join(errs...)
}

// Open opens the directory node, which every process runs: a voter
// with the directory role, a non-voter otherwise. The other roles start with
// StartRoles once the directory has a leader.
func Open(cfg Config, log *slog.Logger) (*Node, error) {
	n := &Node{cfg: cfg, metrics: metrics.New(cfg.NodeID)}
	var err error
	if n.tls, err = loadNodeTLS(cfg, log); err != nil {
		return nil, err
	}
	dcfg := directory.Default()
	dcfg.NodeID = cfg.NodeID
	dcfg.DataDir = filepath.Join(cfg.DataDir, "directory")
	dcfg.Roles = cfg.Roles
	dcfg.RaftAddr = cfg.Directory.RaftAddr
	dcfg.APIAddr = cfg.Directory.APIAddr
	dcfg.GossipAddr = cfg.Directory.GossipAddr
	dcfg.RaftAdvertise = cfg.Directory.RaftAdvertise
	dcfg.APIAdvertise = cfg.Directory.APIAdvertise
	dcfg.GossipAdvertise = cfg.Directory.GossipAdvertise
	dcfg.SourceIP = cfg.SourceIP
	dcfg.Join = cfg.Directory.Join
	dcfg.BootstrapExpect = cfg.Directory.BootstrapExpect
	if cfg.Directory.StaleAfter.Duration > 0 {
		dcfg.StaleAfter = cfg.Directory.StaleAfter.Duration
	}
	if cfg.Directory.ReconcileInterval.Duration > 0 {
		dcfg.ReconcileInterval = cfg.Directory.ReconcileInterval.Duration
	}
	dcfg.ClusterSecret = cfg.ClusterSecret
	dcfg.ServerTLS, dcfg.ClientTLS, dcfg.GossipKey = n.tls.server, n.tls.client, n.tls.gossipKey
	dcfg.Logger = log.With("role", "directory")
	dcfg.Observer = n.metrics
	if cfg.Has(RoleBackend) {
		dcfg.Tags = map[string]string{
			directory.TagBackendID: cfg.Backend.ID,
			directory.TagIMAPAddr:  advertised(cfg.Backend.IMAPAdvertise, cfg.Backend.IMAPAddr),
			directory.TagLMTPAddr:  advertised(cfg.Backend.LMTPAdvertise, cfg.Backend.LMTPAddr),
		}
	}
	d, err := directory.Open(dcfg)
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	n.dir = d
	n.closers = append(n.closers, d.Close)
	return n, nil
}

// Config is the configuration the node was opened with.
func (n *Node) Config() Config { return n.cfg }

// Directory is the node's directory node.
func (n *Node) Directory() *directory.Node { return n.dir }
