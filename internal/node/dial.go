package node

import "github.com/rookery-mail/rookery/tlsutil"

// nodeDial is the dial function of every connection to another node: in
// mutual TLS when the node has TLS.
func (n *Node) nodeDial() tlsutil.DialFunc {
	return tlsutil.Dialer(n.cfg.dialer(), n.cfg.TLS.Client)
}
