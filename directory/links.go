package directory

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"

	"github.com/rookery-mail/rookery/internal/clusterapi"
	"github.com/rookery-mail/rookery/tlsutil"
)

// A node may bind one address and advertise another (a proxy, a NAT), and
// may originate every connection to other nodes from one source IP. The
// jepsen harness uses both: each node binds its own loopback address, sends
// from it, and advertises the fault-injecting proxy in front of it, which
// names the sending node by the source address.

// dialer returns the dialer for connections to other nodes: bound to the
// configured source IP, when there is one.
func (c Config) dialer(timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout}
	if ip := net.ParseIP(c.SourceIP); ip != nil {
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return d
}

// orBound is the advertised address when one is configured, else the bound
// one.
func orBound(advertise, bound string) string {
	if advertise != "" {
		return advertise
	}
	return bound
}

// peerClient is the client for calls to other nodes' cluster APIs; with
// ClientTLS set it calls https:// URLs in mutual TLS.
func (c Config) peerClient() *clusterapi.Client {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: clusterapi.Transport(c.dialer(10*time.Second), c.ClientTLS)}
	return clusterapi.NewClient(c.ClusterSecret, hc, c.ClientTLS != nil, Codes())
}

// raftStream is the Raft transport's stream layer: it listens on the bound
// address, reports the advertised one, and dials from the source IP; with
// ServerTLS and ClientTLS set, both ends speak mutual TLS.
type raftStream struct {
	net.Listener
	advertise net.Addr
	cfg       Config
}

var _ raft.StreamLayer = (*raftStream)(nil)

func newRaftStream(cfg Config) (*raftStream, error) {
	ln, err := net.Listen("tcp", cfg.RaftAddr)
	if err != nil {
		return nil, fmt.Errorf("directory: raft listen: %w", err)
	}
	s := &raftStream{Listener: ln, advertise: ln.Addr(), cfg: cfg}
	if cfg.ServerTLS != nil {
		s.Listener = tls.NewListener(ln, cfg.ServerTLS)
	}
	if cfg.RaftAdvertise != "" {
		a, err := net.ResolveTCPAddr("tcp", cfg.RaftAdvertise)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("%w: raft advertise %q: %v", ErrInvalidConfig, cfg.RaftAdvertise, err)
		}
		s.advertise = a
	} else if a, err := advertiseAddr(cfg.RaftAddr); err != nil {
		ln.Close()
		return nil, err
	} else if a != nil {
		s.advertise = a
	}
	return s, nil
}

// Addr is what the transport puts in the Raft configuration.
func (s *raftStream) Addr() net.Addr { return s.advertise }

// Dial implements raft.StreamLayer.
func (s *raftStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return tlsutil.Dialer(s.cfg.dialer(timeout), s.cfg.ClientTLS)(ctx, "tcp", string(address))
}

// gossipTransport is memberlist's own transport with its TCP dials sent
// from the source IP; its UDP packets already leave from the bound socket.
type gossipTransport struct {
	*memberlist.NetTransport
	cfg Config
}

var _ memberlist.Transport = (*gossipTransport)(nil)

// DialTimeout implements memberlist.Transport.
func (t *gossipTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.cfg.dialer(timeout).Dial("tcp", addr)
}

// newGossipTransport binds host:port for TCP and UDP. With port 0 the TCP
// listener picks a port and UDP must get the same one, which another
// process may hold already: then it tries another, a few times.
func newGossipTransport(cfg Config, host string, port int, mc *memberlist.Config) (*gossipTransport, error) {
	attempts := 1
	if port == 0 {
		attempts = 10
	}
	var err error
	for range attempts {
		var nt *memberlist.NetTransport
		nt, err = memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{host},
			BindPort:  port,
			Logger:    mc.Logger,
		})
		if err == nil {
			return &gossipTransport{NetTransport: nt, cfg: cfg}, nil
		}
	}
	return nil, err
}
