package lmtp_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rookery-mail/rookery/internal/testcluster"
	"github.com/rookery-mail/rookery/lmtp"
)

// lossyConn passes a backend connection through until it is armed; then
// it lets the backend's replies to one transaction (MAIL, one RCPT and the
// final chunk) arrive, drops them, and fails as a connection to a backend
// that died after its commit would.
type lossyConn struct {
	net.Conn
	armed atomic.Bool
	lost  atomic.Bool
}

func (c *lossyConn) Read(p []byte) (int, error) {
	if !c.armed.Load() {
		return c.Conn.Read(p)
	}
	r := bufio.NewReader(c.Conn)
	for lines := 0; lines < 3; lines++ {
		if _, err := r.ReadString('\n'); err != nil {
			return 0, err
		}
	}
	c.lost.Store(true)
	c.Conn.Close()
	return 0, io.ErrUnexpectedEOF
}

// TestResendAfterLostRepliesDeliversOnce: a pooled connection to a
// backend fails after the backend committed a delivery, before its replies
// reached the proxy. The proxy sends the transaction again on a fresh
// connection; the backend knows it by its delivery id and stores nothing
// twice, and the client gets its 250.
func TestResendAfterLostRepliesDeliversOnce(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	var mu sync.Mutex
	var conns []*lossyConn
	addr := startProxy(t, c, func(cfg *lmtp.Config) {
		cfg.IdleBackendConns = 1
		cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			nc, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			lc := &lossyConn{Conn: nc}
			mu.Lock()
			conns = append(conns, lc)
			mu.Unlock()
			return lc, nil
		}
	})
	if got := send(t, addr, []string{"alice@example.org"}, message("<first@example.org>")); got["alice@example.org"] != 250 {
		t.Fatalf("first delivery: %v", got)
	}
	mu.Lock()
	pooled := conns
	for _, lc := range pooled {
		lc.armed.Store(true)
	}
	mu.Unlock()
	if got := send(t, addr, []string{"alice@example.org"}, message("<second@example.org>")); got["alice@example.org"] != 250 {
		t.Fatalf("delivery whose replies were lost: %v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(pooled) != 1 || !pooled[0].lost.Load() || len(conns) != 2 {
		t.Fatalf("the replies were not lost on the pooled connection and sent again on a new one (%d connections)", len(conns))
	}
	if n := inboxCount(t, c, "alice"); n != 2 {
		t.Fatalf("INBOX holds %d messages, want 2: the resent delivery was stored twice", n)
	}
}
