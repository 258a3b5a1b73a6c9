package imapfront

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// TestDialHook: connections to backends go through Config.Dial when it is
// set, and are plain dials otherwise.
func TestDialHook(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := Default()
	c, err := cfg.dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("plain dial: %v", err)
	}
	c.Close()

	hookErr := errors.New("dialed through the hook")
	var got string
	cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("the hook got a context without a deadline")
		}
		got = addr
		return nil, hookErr
	}
	cfg.BackendTimeout = time.Second
	if _, err := dialBackend(&cfg, "b1", ln.Addr().String(), "alice"); !errors.Is(err, ErrBackendDown) || got != ln.Addr().String() {
		t.Fatalf("dialBackend with a hook: err %v, hook saw %q", err, got)
	}
}
