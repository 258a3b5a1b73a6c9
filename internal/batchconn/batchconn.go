// Package batchconn holds a server's writes on a connection until it next
// reads or closes it. A line-protocol server that flushes each reply (as
// go-smtp does) then sends the replies to a pipelined batch of commands,
// or an LMTP server's replies for every recipient, in one segment instead
// of one write and one wake-up of the peer each.
//
// A reply is never held while the server waits: a server reads after it
// answers, and the read sends what is held before it blocks. A write made
// while another goroutine is blocked reading goes out at once.
package batchconn

import (
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// maxHeld is the most a connection holds; a larger write sends it all.
const maxHeld = 16 << 10

// closeFlushTimeout bounds the send of what is held when the connection
// closes, so that a peer that stopped reading cannot hold Close.
const closeFlushTimeout = time.Second

// Listen wraps every connection l accepts. A TLS listener's connections
// pass through as they are (a TLS server needs its *tls.Conn): wrap the
// plain listener beneath the TLS one instead.
func Listen(l net.Listener) net.Listener { return listener{l} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if _, ok := c.(*tls.Conn); ok {
		return c, nil
	}
	return Wrap(c), nil
}

// Wrap holds c's writes until it reads or closes.
func Wrap(c net.Conn) net.Conn { return &conn{Conn: c} }

type conn struct {
	net.Conn
	reading atomic.Int32 // goroutines in Read
	mu      sync.Mutex   // held, err, deadline, and the order of writes
	held    []byte
	err     error // a failed send: every later write fails with it
	// deadline is the write deadline the server set last. A server
	// that bounds each reply's write and lifts the bound after it (as
	// go-imap does) has lifted it by the time what it wrote is sent, so
	// that send is bounded by heldWriteTimeout instead.
	deadline time.Time
}

// heldWriteTimeout bounds the send of what is held when the server set
// no write deadline, so that a peer that stops reading cannot hold the
// session, and Close, for ever.
const heldWriteTimeout = 30 * time.Second

func (c *conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return c.Conn.SetWriteDeadline(t)
}

func (c *conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return c.Conn.SetDeadline(t)
}

// Write holds p unless a goroutine is reading, which may be waiting for it.
// A reader counts itself before it sends what is held, so a write either
// sees the reader or is held before the reader sends.
func (c *conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.reading.Load() == 0 && len(c.held)+len(p) <= maxHeld {
		c.held = append(c.held, p...)
		return len(p), nil
	}
	if err := c.flushLocked(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(p)
	if err != nil {
		c.err = err
	}
	return n, err
}

// Read sends what is held, then reads. The count of readers is not under
// the mutex, so a reader that got its bytes never waits for a writer.
func (c *conn) Read(p []byte) (int, error) {
	c.reading.Add(1)
	defer c.reading.Add(-1)
	c.mu.Lock()
	if len(c.held) > 0 && c.err == nil {
		d := c.deadline
		if d.IsZero() {
			d = time.Now().Add(heldWriteTimeout)
		}
		c.Conn.SetWriteDeadline(d)
		c.flushLocked()
		c.Conn.SetWriteDeadline(c.deadline)
	}
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *conn) Close() error {
	// Set before the lock: a send stuck on a peer that stopped reading
	// (holding the lock) ends by it too.
	c.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
	c.mu.Lock()
	if len(c.held) > 0 && c.err == nil {
		c.flushLocked()
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

func (c *conn) flushLocked() error {
	if c.err != nil || len(c.held) == 0 {
		return c.err
	}
	_, err := c.Conn.Write(c.held)
	c.held = c.held[:0]
	if err != nil {
		c.err = err
	}
	return err
}
