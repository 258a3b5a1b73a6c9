package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/rookery-mail/rookery/backend"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/metrics"
	"github.com/rookery-mail/rookery/spool"
)

var errUsage = errors.New("usage")

const nodeUsage = `Usage: rookery node --config FILE [flags]

Runs one node of a Rookery cluster with the roles its config names.
Settings come from the defaults, then the config file, then these flags.

Example:
  rookery node --config /etc/rookery/node.toml
  rookery node --config node.toml --node-id mx2 --join 10.0.0.1:7002

Flags:
`

func runNode(args []string, stdout, stderr io.Writer) error {
	cfg := Default()
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, nodeUsage); fs.PrintDefaults() }
	configPath := fs.String("config", "", "TOML config `file`")
	nodeID := fs.String("node-id", "", "override node_id")
	dataDir := fs.String("data-dir", "", "override data_dir")
	join := fs.String("join", "", "override directory.join: comma-separated gossip addresses")
	expect := fs.Int("bootstrap-expect", -1, "override directory.bootstrap_expect")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *configPath != "" {
		if err := cfg.LoadFile(*configPath); err != nil {
			return err
		}
	}
	if *nodeID != "" {
		cfg.NodeID = *nodeID
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if *join != "" {
		cfg.Directory.Join = splitList(*join)
	}
	if *expect >= 0 {
		cfg.Directory.BootstrapExpect = *expect
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := openNode(cfg, log)
	if err != nil {
		return err
	}
	if err := n.startRoles(ctx, log); err != nil {
		n.Close()
		return err
	}
	log.Info("node running", "node_id", cfg.NodeID, "roles", cfg.Roles)
	<-ctx.Done()
	log.Info("node stopping", "node_id", cfg.NodeID)
	return n.Close()
}

// node is one running process's roles, closed in the reverse order of
// their start.
type node struct {
	cfg     Config
	dir     *directory.Node
	backend *backend.Backend
	store   *spool.Store
	tls     nodeTLS
	metrics *metrics.Metrics
	closers []func() error
}

func (n *node) Close() error {
	var errs []error
	for i := len(n.closers) - 1; i >= 0; i-- {
		errs = append(errs, n.closers[i]())
	}
	return errors.Join(errs...)
}

// openNode opens the directory node, which every process runs: a voter
// with the directory role, a non-voter otherwise. The other roles start with
// startRoles once the directory has a leader.
func openNode(cfg Config, log *slog.Logger) (*node, error) {
	n := &node{cfg: cfg, metrics: metrics.New(cfg.NodeID)}
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
	if cfg.Has(roleBackend) {
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

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
