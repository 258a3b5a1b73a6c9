package netproxy

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
)

// Stats counts what a proxy or relay has done, for tests and the progress
// line.
type Stats struct {
	Conns     int   // TCP connections open now
	Held      int64 // bytes read from one side and not yet written to the other
	Forwarded int64 // bytes or datagrams passed on
	Dropped   int64 // datagrams dropped at a cut (UDP)
	Resets    int64 // connections reset at a cut (TCP)
}

// Proxy relays TCP connections to one node, applying the Faults table.
type Proxy struct {
	cfg    Config
	faults *Faults
	log    *slog.Logger
	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[*proxyConn]struct{}

	held, forwarded, resets atomic.Int64
}

// Listen starts a proxy. The caller owns it and must Close it.
func Listen(cfg Config, faults *Faults, log *slog.Logger) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		cfg: cfg.withDefaults(), faults: faults, log: log.With("node", cfg.Node, "proxy", ln.Addr().String()),
		ln: ln, ctx: ctx, cancel: cancel, conns: make(map[*proxyConn]struct{}),
	}
	p.wg.Add(2)
	go p.accept()
	go p.resetOnCut()
	return p, nil
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() net.Addr { return p.ln.Addr() }

// Stats returns the proxy's counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	n := len(p.conns)
	p.mu.Unlock()
	return Stats{Conns: n, Held: p.held.Load(), Forwarded: p.forwarded.Load(), Resets: p.resets.Load()}
}

// Close stops accepting, closes every connection and waits for every
// goroutine of the proxy to finish.
func (p *Proxy) Close() error {
	p.cancel()
	err := p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			if p.ctx.Err() == nil {
				p.log.Error("proxy stopped accepting", "err", err)
			}
			return
		}
		c := &proxyConn{p: p, client: client, from: p.cfg.source(client.RemoteAddr()), done: make(chan struct{})}
		if !p.track(c) {
			client.Close()
			return
		}
		p.wg.Add(1)
		go c.serve()
	}
}

func (p *Proxy) track(c *proxyConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c *proxyConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

// resetOnCut resets the connections of every link cut in Reset mode as soon
// as the cut is made; stalled connections need no help, their pumps wait.
func (p *Proxy) resetOnCut() {
	defer p.wg.Done()
	for {
		_, changed := p.faults.State("", "")
		p.mu.Lock()
		for c := range p.conns {
			if c.mustReset() {
				c.reset()
			}
		}
		p.mu.Unlock()
		select {
		case <-changed:
		case <-p.ctx.Done():
			return
		}
	}
}

// proxyConn is one client connection and its upstream connection.
type proxyConn struct {
	p      *Proxy
	client net.Conn
	from   string

	mu       sync.Mutex
	upstream net.Conn
	closed   bool
	done     chan struct{}
}

func (c *proxyConn) mustReset() bool {
	up, _ := c.p.faults.State(c.from, c.p.cfg.Node)
	down, _ := c.p.faults.State(c.p.cfg.Node, c.from)
	return (up.Cut && up.Mode == Reset) || (down.Cut && down.Mode == Reset)
}

// reset closes both sides with RST rather than FIN, as a rejecting
// firewall's peer would see it.
func (c *proxyConn) reset() {
	c.p.resets.Add(1)
	c.p.log.Debug("connection reset at cut", "from", c.from)
	for _, conn := range []net.Conn{c.client, c.upstreamConn()} {
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
	}
	c.close()
}

func (c *proxyConn) upstreamConn() net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.upstream
}

func (c *proxyConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	close(c.done)
	c.client.Close()
	if c.upstream != nil {
		c.upstream.Close()
	}
}

func (c *proxyConn) serve() {
	defer c.p.wg.Done()
	defer c.p.untrack(c)
	defer c.close()
	if c.mustReset() {
		c.reset()
		return
	}
	// A new connection needs both directions: the handshake crosses both.
	if !c.waitOpen(c.from, c.p.cfg.Node) || !c.waitOpen(c.p.cfg.Node, c.from) {
		return
	}
	d := net.Dialer{Timeout: c.p.cfg.DialTimeout}
	up, err := d.DialContext(c.p.ctx, "tcp", c.p.cfg.Upstream)
	if err != nil {
		c.p.log.Warn("proxy could not reach its node", "from", c.from, "err", err)
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		up.Close()
		return
	}
	c.upstream = up
	c.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.pump(c.client, up, c.from, c.p.cfg.Node) }()
	go func() { defer wg.Done(); c.pump(up, c.client, c.p.cfg.Node, c.from) }()
	wg.Wait()
}

// waitOpen waits until a link is not cut; false if the connection closed
// first.
func (c *proxyConn) waitOpen(from, to string) bool {
	for {
		s, changed := c.p.faults.State(from, to)
		if !s.Cut {
			return true
		}
		select {
		case <-changed:
		case <-c.done:
			return false
		}
	}
}
