// Package smtpstop stops a go-smtp server without touching a connection
// while its own goroutine works on it.
//
// go-smtp's Server.Close closes each connection from the goroutine that
// calls it, and that Close writes fields (the BDAT pipe, the session) that
// the connection's goroutine reads without a lock: a Close during a BDAT
// chunk is a data race and can dereference a nil pipe. Its Shutdown does
// not touch connections but waits for them to go idle, which an MTA that
// keeps a connection open never does. A Stopper does what neither does:
// it closes the sockets underneath (each connection's goroutine then fails
// its next read or write and closes the connection itself), waits for
// those goroutines through Shutdown, and then for the deliveries go-smtp
// runs in goroutines of their own (LMTPData under BDAT), so that nothing
// works on the store once Stop has returned.
package smtpstop

import (
	"context"
	"net"
	"sync"

	"github.com/emersion/go-smtp"
)

// Stopper tracks a server's sockets and its deliveries in flight.
type Stopper struct {
	mu       sync.Mutex
	open     map[*conn]struct{}
	stopping bool
	busy     sync.WaitGroup // deliveries between Enter and Leave
}

// New returns a Stopper with nothing open.
func New() *Stopper { return &Stopper{open: make(map[*conn]struct{})} }

// Listen wraps l so that Stop can close what it accepts. Wrap the raw
// listener, beneath any other wrapping, so that Stop closes the socket.
func (s *Stopper) Listen(l net.Listener) net.Listener { return listener{l, s} }

type listener struct {
	net.Listener
	s *Stopper
}

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &conn{Conn: c, s: l.s}
	l.s.mu.Lock()
	stopping := l.s.stopping
	if !stopping {
		l.s.open[tc] = struct{}{}
	}
	l.s.mu.Unlock()
	if stopping {
		// Accepted as Stop began: the server's goroutine finds it closed.
		c.Close()
	}
	return tc, nil
}

type conn struct {
	net.Conn
	s *Stopper
}

func (c *conn) Close() error {
	c.s.mu.Lock()
	delete(c.s.open, c)
	c.s.mu.Unlock()
	return c.Conn.Close()
}

// Enter marks a delivery begun; it reports false once Stop has begun, and
// the delivery must then not start. Each Enter that reports true needs
// its Leave.
func (s *Stopper) Enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.busy.Add(1)
	return true
}

// Leave marks a delivery ended.
func (s *Stopper) Leave() { s.busy.Done() }

// Stop closes srv's listeners and every socket it accepted, and returns
// when every connection's goroutine and every delivery has ended. The
// caller cancels whatever the deliveries wait on first, so that they end.
func (s *Stopper) Stop(srv *smtp.Server) error {
	s.mu.Lock()
	s.stopping = true
	open := make([]*conn, 0, len(s.open))
	for c := range s.open {
		open = append(open, c)
	}
	s.mu.Unlock()
	for _, c := range open {
		c.Conn.Close()
	}
	err := srv.Shutdown(context.Background())
	s.busy.Wait()
	if err == smtp.ErrServerClosed {
		err = nil
	}
	return err
}
