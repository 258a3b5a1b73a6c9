package node

import (
	"crypto/tls"
	"fmt"
	"log/slog"

	"github.com/rookery-mail/rookery/tlsutil"
)

// nodeTLS is the TLS material a node process loads once at start: the
// mutual TLS between nodes, the gossip key and the client-port certificate.
// A nil field means that part runs without TLS.
type nodeTLS struct {
	server    *tls.Config // listeners other nodes dial
	client    *tls.Config // dials to other nodes
	gossipKey []byte
	clients   *tls.Config // IMAP and LMTP ports mail clients use
}

func loadNodeTLS(cfg Config, log *slog.Logger) (nodeTLS, error) {
	var t nodeTLS
	var err error
	if dir := cfg.TLS.NodeDir; dir != "" {
		if t.server, err = tlsutil.MutualServerConfig(dir); err != nil {
			return t, fmt.Errorf("tls.node_dir: %w", err)
		}
		if t.client, err = tlsutil.MutualClientConfig(dir); err != nil {
			return t, fmt.Errorf("tls.node_dir: %w", err)
		}
	} else {
		log.Warn("tls.node_dir is not set: traffic between nodes, including the cluster secret, travels in plaintext")
	}
	if path := cfg.TLS.GossipKeyFile; path != "" {
		if t.gossipKey, err = tlsutil.GossipKey(path); err != nil {
			return t, fmt.Errorf("tls.gossip_key_file: %w", err)
		}
	}
	if fc := cfg.Frontend; cfg.Has(RoleFrontend) && fc.TLSCertFile != "" {
		if t.clients, err = tlsutil.ClientPortConfig(fc.TLSCertFile, fc.TLSKeyFile); err != nil {
			return t, fmt.Errorf("frontend.tls_cert_file: %w", err)
		}
	}
	return t, nil
}

// nodeDial is the dial function of every connection to another node.
func (n *Node) nodeDial() tlsutil.DialFunc {
	return tlsutil.Dialer(n.cfg.dialer(), n.tls.client)
}
