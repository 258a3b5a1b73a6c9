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
	mu      sync.Mutex   // held, err, and the order of writes
	held    []byte
	err     error // a failed send: every later write fails with it
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
	err := c.flushLocked()
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *conn) Close() error {
	c.mu.Lock()
	if len(c.held) > 0 && c.err == nil {
		c.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
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
