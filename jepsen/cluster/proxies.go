package cluster

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/rookery-mail/rookery/jepsen/netproxy"
)

// startProxies puts a proxy in front of every listener of node name (real
// addresses in real) and returns the addresses they listen on, which the
// node advertises. Gossip gets a TCP proxy and a UDP relay on one port.
func startProxies(name string, real Addrs, sources map[string]string, faults *netproxy.Faults, log *slog.Logger) (Addrs, []io.Closer, error) {
	var closers []io.Closer
	fail := func(err error) (Addrs, []io.Closer, error) {
		for _, c := range closers {
			c.Close()
		}
		return Addrs{}, nil, err
	}
	tcp := func(upstream, listen string) (string, error) {
		p, err := netproxy.Listen(netproxy.Config{Node: name, Listen: listen, Upstream: upstream, Sources: sources}, faults, log)
		if err != nil {
			return "", err
		}
		closers = append(closers, p)
		return p.Addr().String(), nil
	}
	var px Addrs
	var err error
	for _, f := range []struct{ dst, upstream *string }{
		{&px.Raft, &real.Raft}, {&px.API, &real.API}, {&px.BackendIMAP, &real.BackendIMAP},
		{&px.BackendLMTP, &real.BackendLMTP}, {&px.IMAP, &real.IMAP}, {&px.LMTP, &real.LMTP},
	} {
		if *f.dst, err = tcp(*f.upstream, net.JoinHostPort(proxyHost, "0")); err != nil {
			return fail(err)
		}
	}
	if px.Gossip, err = gossipProxy(name, real.Gossip, sources, faults, log, &closers); err != nil {
		return fail(err)
	}
	return px, closers, nil
}

// gossipProxy finds a port free for both a TCP proxy and a UDP relay.
func gossipProxy(name, upstream string, sources map[string]string, faults *netproxy.Faults, log *slog.Logger, closers *[]io.Closer) (string, error) {
	var lastErr error
	for range 20 {
		cfg := netproxy.Config{Node: name, Listen: net.JoinHostPort(proxyHost, "0"), Upstream: upstream, Sources: sources}
		p, err := netproxy.Listen(cfg, faults, log)
		if err != nil {
			return "", err
		}
		cfg.Listen = p.Addr().String()
		r, err := netproxy.ListenUDP(cfg, faults, log)
		if err != nil {
			p.Close()
			lastErr = err
			continue
		}
		*closers = append(*closers, p, r)
		return cfg.Listen, nil
	}
	return "", fmt.Errorf("%w: gossip proxy for %s: %w", ErrBadConfig, name, errors.Join(lastErr))
}
