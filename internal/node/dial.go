package node

import (
	"context"
	"net"

	"github.com/rookery-mail/rookery/tlsutil"
)

// nodeDial is the dial function of every connection to another node: in
// mutual TLS when the node has TLS. A connection to this node's own
// backend (its IMAP or LMTP address) does not leave the process
// (backend.DialLocal).
func (n *Node) nodeDial() tlsutil.DialFunc {
	remote := tlsutil.Dialer(n.cfg.dialer(), n.cfg.TLS.Client)
	b := n.backend
	if b == nil {
		return remote
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if c, ok, err := b.DialLocal(ctx, addr); ok {
			return c, err
		}
		return remote(ctx, network, addr)
	}
}
