package lmtp

import (
	"context"
	"sync"
	"time"
)

// backendPool keeps a few idle connections per backend: a connection costs
// a TCP handshake, a greeting and LHLO, more than a small delivery.
type backendPool struct {
	cfg  Config
	mu   sync.Mutex
	idle map[string][]*backendConn
	shut bool
}

func newBackendPool(cfg Config) *backendPool {
	return &backendPool{cfg: cfg, idle: map[string][]*backendConn{}}
}

// get returns an idle connection to the backend, or a new one when there
// is none or fresh is set.
func (p *backendPool) get(ctx context.Context, id, addr string, fresh bool) (*backendConn, error) {
	p.mu.Lock()
	if p.shut {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if l := p.idle[id]; len(l) > 0 && !fresh {
		c := l[len(l)-1]
		p.idle[id] = l[:len(l)-1]
		p.mu.Unlock()
		c.reused = true
		return c, nil
	}
	p.mu.Unlock()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return dialBackend(dctx, p.cfg, addr)
}

func (p *backendPool) put(id string, c *backendConn) {
	c.conn.SetDeadline(time.Time{})
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shut || len(p.idle[id]) >= p.cfg.IdleBackendConns {
		c.Close()
		return
	}
	p.idle[id] = append(p.idle[id], c)
}

func (p *backendPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shut = true
	for id, l := range p.idle {
		for _, c := range l {
			c.Close()
		}
		delete(p.idle, id)
	}
}
