package imapd

import (
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// The IMAP server writes each response line with a system call of its own
// (its encoder flushes at every CRLF), so a FETCH of fifty messages costs
// fifty-one writes here and as many wake-ups of the frontend that relays
// it. A batchedConn holds what is written and sends it in one write when
// the server next reads: it reads only once it has answered and waits for
// the client (for its next command, a literal after a continuation
// request, the end of IDLE). What is written while it reads (updates
// during IDLE, BYE) goes out at once.

// batchLimit bounds what a batchedConn holds: a larger response (bodies)
// goes out in writes of about this size.
const batchLimit = 64 << 10

// batchWriteTimeout bounds the write of what was held, as the server
// bounds each response's (the held bytes were written under its deadline,
// which it has lifted since).
const batchWriteTimeout = 30 * time.Second

// batchedListener hands out batchedConns.
// The server tells a TLS connection by its type, which a batchedConn
// hides: it would offer STARTTLS on it, and refuse a login on it unless
// any connection may log in. Such connections are not batched.
type batchedListener struct {
	net.Listener
	tlsStarts    bool // the server offers STARTTLS
	insecureAuth bool // the server takes logins on any connection
}

func (l batchedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if _, isTLS := c.(*tls.Conn); l.tlsStarts || (isTLS && !l.insecureAuth) {
		return c, nil
	}
	return &batchedConn{Conn: c}, nil
}

// batchedConn is a server connection whose writes are held until the
// server reads (see above).
type batchedConn struct {
	net.Conn
	mu      sync.Mutex
	buf     []byte
	err     error // the first failed write, returned by every later one
	reading bool  // the server waits on the client: writes go out at once
}

func (c *batchedConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.buf) > 0 {
		c.Conn.SetWriteDeadline(time.Now().Add(batchWriteTimeout))
		c.flushLocked()
		c.Conn.SetWriteDeadline(time.Time{})
	}
	err := c.err
	c.reading = err == nil
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.reading = false
	c.mu.Unlock()
	return n, err
}

func (c *batchedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	c.buf = append(c.buf, p...)
	if c.reading || len(c.buf) >= batchLimit {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (c *batchedConn) flushLocked() error {
	if c.err != nil || len(c.buf) == 0 {
		return c.err
	}
	_, c.err = c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	if cap(c.buf) > batchLimit {
		c.buf = nil // an idle connection keeps no large response's buffer
	}
	return c.err
}

// Close sends what is held (a BYE) first.
func (c *batchedConn) Close() error {
	c.mu.Lock()
	c.flushLocked()
	c.mu.Unlock()
	return c.Conn.Close()
}
