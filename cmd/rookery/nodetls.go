package main

import (
	"fmt"
	"log/slog"

	"github.com/rookery-mail/rookery/internal/node"
	"github.com/rookery-mail/rookery/tlsutil"
)

// loadNodeTLS loads the TLS material the config names: the mutual TLS
// between nodes, the gossip key and the client-port certificate. What it
// leaves nil runs without TLS.
func loadNodeTLS(cfg Config, log *slog.Logger) (node.TLS, error) {
	var t node.TLS
	var err error
	if dir := cfg.TLS.NodeDir; dir != "" {
		if t.Server, err = tlsutil.MutualServerConfig(dir); err != nil {
			return t, fmt.Errorf("tls.node_dir: %w", err)
		}
		if t.Client, err = tlsutil.MutualClientConfig(dir); err != nil {
			return t, fmt.Errorf("tls.node_dir: %w", err)
		}
	} else {
		log.Warn("tls.node_dir is not set: traffic between nodes, including the cluster secret, travels in plaintext")
	}
	switch path := cfg.TLS.GossipKeyFile; {
	case path != "":
		if t.GossipKey, err = tlsutil.GossipKey(path); err != nil {
			return t, fmt.Errorf("tls.gossip_key_file: %w", err)
		}
	case cfg.TLS.NodeDir != "":
		return t, fmt.Errorf("tls.gossip_key_file is required with tls.node_dir: without it anyone who reaches the gossip port joins the cluster (rookery tls init writes %s beside the CA)", tlsutil.GossipKeyFile)
	}
	if fc := cfg.Frontend; cfg.Has(node.RoleFrontend) && fc.TLSCertFile != "" {
		if t.Clients, err = tlsutil.ClientPortConfig(fc.TLSCertFile, fc.TLSKeyFile); err != nil {
			return t, fmt.Errorf("frontend.tls_cert_file: %w", err)
		}
	}
	return t, nil
}

// newNode loads cfg's TLS material and opens the node it describes.
func newNode(cfg Config, log *slog.Logger) (*node.Node, error) {
	t, err := loadNodeTLS(cfg, log)
	if err != nil {
		return nil, err
	}
	return node.New(cfg.nodeConfig(t, log))
}
