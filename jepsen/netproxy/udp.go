package netproxy

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// maxDatagram is the largest datagram relayed; memberlist keeps its packets
// well below it.
const maxDatagram = 64 << 10

// datagramQueue bounds the datagrams waiting out a delay on one link; past
// it they are dropped, as a congested network would.
const datagramQueue = 256

// Relay relays UDP datagrams to one node, applying the Faults table. Each
// source address gets its own upstream socket, so the node's replies to it
// come back through the relay and can be cut or delayed on their own link.
type Relay struct {
	cfg    Config
	faults *Faults
	log    *slog.Logger
	conn   *net.UDPConn
	up     *net.UDPAddr
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	sessions map[string]*udpSession

	forwarded, dropped atomic.Int64
}

// ListenUDP starts a relay. The caller owns it and must Close it.
func ListenUDP(cfg Config, faults *Faults, log *slog.Logger) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	laddr, err := net.ResolveUDPAddr("udp", cfg.Listen)
	if err != nil {
		return nil, err
	}
	up, err := net.ResolveUDPAddr("udp", cfg.Upstream)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Relay{
		cfg: cfg.withDefaults(), faults: faults, log: log.With("node", cfg.Node, "relay", conn.LocalAddr().String()),
		conn: conn, up: up, ctx: ctx, cancel: cancel, sessions: make(map[string]*udpSession),
	}
	r.wg.Add(1)
	go r.receive()
	return r, nil
}

// Addr is the address the relay listens on.
func (r *Relay) Addr() net.Addr { return r.conn.LocalAddr() }

// Stats returns the relay's counters.
func (r *Relay) Stats() Stats {
	return Stats{Forwarded: r.forwarded.Load(), Dropped: r.dropped.Load()}
}

// Close stops the relay and waits for its goroutines.
func (r *Relay) Close() error {
	r.cancel()
	err := r.conn.Close()
	r.mu.Lock()
	for _, s := range r.sessions {
		s.upstream.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	return err
}

// receive takes datagrams from the other nodes and queues each on its
// source's session.
func (r *Relay) receive() {
	defer r.wg.Done()
	buf := make([]byte, maxDatagram)
	for {
		n, src, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			if r.ctx.Err() == nil {
				r.log.Error("relay stopped receiving", "err", err)
			}
			return
		}
		s, err := r.session(src)
		if err != nil {
			r.dropped.Add(1)
			r.log.Warn("relay dropped a datagram", "from", src.String(), "err", err)
			continue
		}
		s.toNode.offer(append([]byte(nil), buf[:n]...))
	}
}

func (r *Relay) session(src *net.UDPAddr) (*udpSession, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Checked under the lock Close takes, so no session starts after Close
	// has closed the others.
	if r.ctx.Err() != nil {
		return nil, ErrClosed
	}
	if s, ok := r.sessions[src.String()]; ok {
		return s, nil
	}
	if len(r.sessions) >= r.cfg.MaxSessions {
		return nil, ErrTooManySources
	}
	upstream, err := net.DialUDP("udp", nil, r.up)
	if err != nil {
		return nil, err
	}
	from := r.cfg.source(src)
	s := &udpSession{r: r, src: src, upstream: upstream}
	s.toNode = r.newLane(from, r.cfg.Node, func(b []byte) error { _, err := upstream.Write(b); return err })
	s.fromNode = r.newLane(r.cfg.Node, from, func(b []byte) error { _, err := r.conn.WriteToUDP(b, src); return err })
	r.sessions[src.String()] = s
	r.wg.Add(1)
	go s.receiveReplies()
	return s, nil
}

// udpSession is one source address: its upstream socket and a lane for
// each direction.
type udpSession struct {
	r                *Relay
	src              *net.UDPAddr
	upstream         *net.UDPConn
	toNode, fromNode *lane
}

// receiveReplies passes the node's replies back to the source.
func (s *udpSession) receiveReplies() {
	defer s.r.wg.Done()
	buf := make([]byte, maxDatagram)
	for {
		n, err := s.upstream.Read(buf)
		if err != nil {
			if s.r.ctx.Err() != nil {
				return
			}
			// A port with no listener behind it reports ECONNREFUSED on a
			// connected UDP socket; the node may be restarting.
			continue
		}
		s.fromNode.offer(append([]byte(nil), buf[:n]...))
	}
}

// lane carries one link's datagrams: dropped while the link is cut,
// otherwise sent once the link's delay has passed, in order.
type lane struct {
	r        *Relay
	from, to string
	queue    chan datagram
	send     func([]byte) error
}

type datagram struct {
	data []byte
	at   time.Time
}

func (r *Relay) newLane(from, to string, send func([]byte) error) *lane {
	l := &lane{r: r, from: from, to: to, queue: make(chan datagram, datagramQueue), send: send}
	r.wg.Add(1)
	go l.run()
	return l
}

// offer decides a datagram's fate at arrival: a cut drops it at once.
func (l *lane) offer(b []byte) {
	s, _ := l.r.faults.State(l.from, l.to)
	if s.Cut {
		l.r.dropped.Add(1)
		return
	}
	select {
	case l.queue <- datagram{data: b, at: time.Now()}:
	default:
		l.r.dropped.Add(1)
	}
}

func (l *lane) run() {
	defer l.r.wg.Done()
	for {
		select {
		case d := <-l.queue:
			if !l.waitDelay(d.at) {
				return
			}
			if s, _ := l.r.faults.State(l.from, l.to); s.Cut {
				l.r.dropped.Add(1)
				continue
			}
			if err := l.send(d.data); err == nil {
				l.r.forwarded.Add(1)
			}
		case <-l.r.ctx.Done():
			return
		}
	}
}

func (l *lane) waitDelay(at time.Time) bool {
	for {
		s, changed := l.r.faults.State(l.from, l.to)
		wait := time.Until(at.Add(s.Delay))
		if wait <= 0 {
			return true
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-changed:
		case <-l.r.ctx.Done():
			t.Stop()
			return false
		}
		t.Stop()
	}
}
