package netproxy

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// udpEcho echoes datagrams and counts them.
type udpEcho struct {
	conn     *net.UDPConn
	received atomic.Int64
	seen     sync.Map // payload -> true
}

func startUDPEcho(t *testing.T) *udpEcho {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	e := &udpEcho{conn: conn}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			e.received.Add(1)
			e.seen.Store(string(buf[:n]), true)
			conn.WriteToUDP(buf[:n], from)
		}
	}()
	t.Cleanup(func() { conn.Close(); wg.Wait() })
	return e
}

func startRelay(t *testing.T, upstream string, faults *Faults) *Relay {
	t.Helper()
	r, err := ListenUDP(Config{
		Node: "n3", Listen: "127.0.0.1:0", Upstream: upstream,
		Sources: map[string]string{ipN1: "n1", ipN2: "n2"},
	}, faults, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// udpFrom is a node's socket on its own loopback address.
func udpFrom(t *testing.T, ip string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ping sends a datagram and waits for its echo, resending while none comes:
// UDP may lose the first one while the relay's session starts.
func ping(t *testing.T, c *net.UDPConn, to net.Addr, msg string) {
	t.Helper()
	buf := make([]byte, 2048)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.WriteTo([]byte(msg), to); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _, err := c.ReadFrom(buf)
		if err == nil && string(buf[:n]) == msg {
			return
		}
	}
	t.Fatalf("no echo of %q", msg)
}

func TestRelayPassesAndCuts(t *testing.T) {
	echo := startUDPEcho(t)
	faults := NewFaults()
	r := startRelay(t, echo.conn.LocalAddr().String(), faults)
	n1, n2 := udpFrom(t, ipN1), udpFrom(t, ipN2)
	ping(t, n1, r.Addr(), "hello")
	ping(t, n2, r.Addr(), "hello")

	faults.Cut("n1", "n3", Blackhole)
	dropped := r.Stats().Dropped
	if _, err := n1.WriteTo([]byte("lost"), r.Addr()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the datagram to be dropped", func() bool { return r.Stats().Dropped == dropped+1 })
	ping(t, n2, r.Addr(), "other link")
	if _, crossed := echo.seen.Load("lost"); crossed {
		t.Fatal("a datagram crossed the cut")
	}
	faults.Heal("n1", "n3")
	ping(t, n1, r.Addr(), "healed")
}

func TestRelayOneWayDropsReplies(t *testing.T) {
	echo := startUDPEcho(t)
	faults := NewFaults()
	r := startRelay(t, echo.conn.LocalAddr().String(), faults)
	n1 := udpFrom(t, ipN1)
	ping(t, n1, r.Addr(), "hello")

	faults.Cut("n3", "n1", Blackhole)
	before, dropped := echo.received.Load(), r.Stats().Dropped
	if _, err := n1.WriteTo([]byte("request"), r.Addr()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the request to reach the node", func() bool { return echo.received.Load() == before+1 })
	waitFor(t, "the reply to be dropped", func() bool { return r.Stats().Dropped == dropped+1 })
	faults.HealAll()
	ping(t, n1, r.Addr(), "healed")
}

func TestRelayDelay(t *testing.T) {
	echo := startUDPEcho(t)
	faults := NewFaults()
	r := startRelay(t, echo.conn.LocalAddr().String(), faults)
	n1 := udpFrom(t, ipN1)
	ping(t, n1, r.Addr(), "warm")
	const d = 150 * time.Millisecond
	faults.Delay("n1", "n3", d)
	start := time.Now()
	n1.WriteTo([]byte("slow"), r.Addr())
	buf := make([]byte, 64)
	n1.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := n1.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "slow" {
		t.Fatalf("delayed echo: %q, %v", buf[:n], err)
	}
	// A lower bound only: the delay guarantees it however slow the machine.
	if took := time.Since(start); took < d {
		t.Fatalf("round trip took %v with a %v delay", took, d)
	}
}

func TestRelayRejectsBadConfig(t *testing.T) {
	_, err := ListenUDP(Config{Node: "n3", Listen: "127.0.0.1:0", Upstream: "127.0.0.1:1", Sources: map[string]string{"n1": "n1"}},
		NewFaults(), slog.New(slog.DiscardHandler))
	if !errors.Is(err, ErrBadConfig) {
		t.Fatalf("source that is not an IP: %v", err)
	}
}
