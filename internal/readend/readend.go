// Package readend remembers that a connection's peer stopped sending. A
// server library may read a length-counted chunk (an SMTP BDAT chunk) with
// a limit reader that takes the connection's end for the chunk's end; a
// server that asks Ended before it accepts such a body never stores one
// that was cut off.
package readend

import (
	"crypto/tls"
	"io"
	"net"
	"sync/atomic"
)

// Listen wraps every connection l accepts, TLS connections included (so
// wrap beneath a TLS listener where the server must see a *tls.Conn).
func Listen(l net.Listener) net.Listener { return listener{l} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c), nil
}

// Wrap notes the first failed read of c, the end of its input included.
func Wrap(c net.Conn) net.Conn { return &conn{Conn: c} }

type conn struct {
	net.Conn
	ended atomic.Bool
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.ended.Store(true)
	}
	return n, err
}

// Ended reports whether a read of c (or of the connection a TLS
// connection runs over) has failed or found the end of its input. It is
// false for a connection that Wrap did not make.
func Ended(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	rc, ok := c.(*conn)
	return ok && rc.ended.Load()
}

// Body returns r, whose end is io.ErrUnexpectedEOF instead of io.EOF when
// the connection c (as conn returns it then) had ended: the body was cut
// off, not finished.
func Body(r io.Reader, conn func() net.Conn) io.Reader {
	return &body{r: r, conn: conn}
}

type body struct {
	r    io.Reader
	conn func() net.Conn
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF && Ended(b.conn()) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
