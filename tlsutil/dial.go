package tlsutil

import (
	"context"
	"crypto/tls"
	"net"
)

// DialFunc is the shape of net.Dialer.DialContext, which http.Transport,
// the IMAP frontend and the LMTP proxy take for their connections.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Dialer returns a DialFunc that opens a TCP connection with base and
// completes a TLS handshake on it with cfg before returning it, checking
// the server's certificate against the host dialled. With cfg nil it is
// base.DialContext unchanged.
//
// Every link between nodes dials this way, so a protocol on top (go-imap,
// go-smtp, Raft) keeps its plain form: the transport below it is what
// carries the TLS, and a listener wrapped with tls.NewListener is its other
// end. The cluster API's calls name https:// for it (clusterapi.Transport).
func Dialer(base *net.Dialer, cfg *tls.Config) DialFunc {
	if cfg == nil {
		return base.DialContext
	}
	d := &tls.Dialer{NetDialer: base, Config: cfg}
	return d.DialContext
}
