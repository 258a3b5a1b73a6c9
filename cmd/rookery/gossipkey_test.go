package main

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rookery-mail/rookery/tlsutil"
)

// Node TLS without a gossip key is refused at start: the gossip port
// would let anyone join.
func TestNodeTLSNeedsGossipKeyFile(t *testing.T) {
	dir := t.TempDir()
	caDir, nodeDir := filepath.Join(dir, "ca"), filepath.Join(dir, "n1")
	if _, err := tlsutil.InitCA(caDir); err != nil {
		t.Fatal(err)
	}
	if _, err := tlsutil.IssueNode(caDir, "n1", []string{"127.0.0.1"}, nodeDir); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	cfg.TLS.NodeDir = nodeDir
	_, err := loadNodeTLS(cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "gossip_key_file") {
		t.Fatalf("node TLS without a gossip key: %v", err)
	}
	key := filepath.Join(caDir, tlsutil.GossipKeyFile)
	if err := tlsutil.InitGossipKey(key); err != nil {
		t.Fatal(err)
	}
	cfg.TLS.GossipKeyFile = key
	if _, err := loadNodeTLS(cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("node TLS with a gossip key: %v", err)
	}
}
