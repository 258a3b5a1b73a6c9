package backend

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/rookery-mail/rookery/internal/batchconn"
)

// A frontend on the node of its backend reaches it without the network: a
// connection to the address this backend registered for IMAP or LMTP is a
// pair of connected local sockets, one end handed to the server as if it
// had been accepted. No TCP, and no TLS, which protects links between
// nodes: both ends are this process.

// localListener hands the servers the connections DialLocal makes.
type localListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newLocalListener(addr net.Addr) *localListener {
	return &localListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *localListener) Accept() (net.Conn, error) {
	select {
	case <-l.done: // first, so that a closed listener hands out nothing more
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *localListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *localListener) Addr() net.Addr { return l.addr }

// dial makes a connected pair and hands one end to the server.
func (l *localListener) dial(ctx context.Context) (net.Conn, error) {
	select {
	case <-l.done:
		return nil, net.ErrClosed
	default:
	}
	client, server, err := socketPair()
	if err != nil {
		return nil, err
	}
	select {
	case l.conns <- batchconn.Wrap(server):
		return client, nil
	case <-l.done:
		err = net.ErrClosed
	case <-ctx.Done():
		err = ctx.Err()
	}
	client.Close()
	server.Close()
	return nil, err
}

// socketPair returns the two ends of a new pair of connected Unix stream
// sockets.
func socketPair() (net.Conn, net.Conn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("local connection: %w", err)
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "local")
		c, err := net.FileConn(f) // a duplicate of fd
		f.Close()
		if err != nil {
			if i == 1 {
				conns[0].Close()
			} else {
				syscall.Close(fds[1])
			}
			return nil, nil, fmt.Errorf("local connection: %w", err)
		}
		conns[i] = c
	}
	return conns[0], conns[1], nil
}

// localServers are the local listeners of a started backend.
type localServers struct {
	imap, lmtp         *localListener
	imapAddr, lmtpAddr string // as registered in the directory
	dials              atomic.Int64
}

// DialLocal connects to this backend's IMAP or LMTP server without the
// network when addr is the address it registered for one of them; ok is
// false for any other address, or before Start.
func (b *Backend) DialLocal(ctx context.Context, addr string) (c net.Conn, ok bool, err error) {
	b.mu.Lock()
	ls := b.localSrv
	b.mu.Unlock()
	if ls == nil {
		return nil, false, nil
	}
	var l *localListener
	switch addr {
	case ls.imapAddr:
		l = ls.imap
	case ls.lmtpAddr:
		l = ls.lmtp
	default:
		return nil, false, nil
	}
	c, err = l.dial(ctx)
	if err == nil {
		ls.dials.Add(1)
	}
	return c, true, err
}

// LocalDials counts the connections DialLocal made.
func (b *Backend) LocalDials() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.localSrv == nil {
		return 0
	}
	return b.localSrv.dials.Load()
}
