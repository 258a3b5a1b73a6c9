package lmtp

import (
	"context"
	"errors"
	"net"
	"testing"
)

// TestDialHook: connections to backends go through Config.Dial when set.
func TestDialHook(t *testing.T) {
	hookErr := errors.New("dialed through the hook")
	var got string
	cfg := Default()
	cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		got = addr
		return nil, hookErr
	}
	p := newBackendPool(cfg)
	if _, err := p.get(context.Background(), "b1", "127.0.0.1:1", true); !errors.Is(err, hookErr) || got != "127.0.0.1:1" {
		t.Fatalf("get: err %v, hook saw %q", err, got)
	}
}
