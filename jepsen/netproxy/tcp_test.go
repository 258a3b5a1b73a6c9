package netproxy

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	ipN1 = "127.0.0.11"
	ipN2 = "127.0.0.12"
)

// waitFor polls cond until it holds; the deadline only stops a broken test
// from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// echoServer echoes lines and counts the bytes it has received.
type echoServer struct {
	ln       net.Listener
	received atomic.Int64
	wg       sync.WaitGroup
}

func startEcho(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					s.received.Add(int64(len(line)))
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, line); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func startProxy(t testing.TB, upstream string, faults *Faults) *Proxy {
	t.Helper()
	p, err := Listen(Config{
		Node: "n3", Listen: "127.0.0.1:0", Upstream: upstream,
		Sources: map[string]string{ipN1: "n1", ipN2: "n2"},
	}, faults, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// dialFrom connects to addr from a node's own loopback address.
func dialFrom(t testing.TB, ip string, addr net.Addr) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends a line and reads its echo; the read deadline only stops
// a broken test from hanging.
func roundTrip(c net.Conn, line string) (string, error) {
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	return readLine(c)
}

func readLine(c net.Conn) (string, error) {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	var buf []byte
	one := make([]byte, 1)
	for {
		if _, err := c.Read(one); err != nil {
			return string(buf), err
		}
		if one[0] == '\n' {
			return string(buf), nil
		}
		buf = append(buf, one[0])
	}
}

func mustEcho(t *testing.T, c net.Conn, line string) {
	t.Helper()
	got, err := roundTrip(c, line)
	if err != nil || got != line {
		t.Fatalf("echo of %q: %q, %v", line, got, err)
	}
}

func TestProxyPassesTraffic(t *testing.T) {
	echo := startEcho(t)
	p := startProxy(t, echo.ln.Addr().String(), NewFaults())
	c := dialFrom(t, ipN1, p.Addr())
	for _, line := range []string{"a", "hello", string(make([]byte, 100_000))} {
		mustEcho(t, c, line)
	}
	waitFor(t, "nothing held", func() bool { return p.Stats().Held == 0 && p.Stats().Conns == 1 })
}

func TestProxyBlackholeStallsAndHeals(t *testing.T) {
	echo := startEcho(t)
	faults := NewFaults()
	p := startProxy(t, echo.ln.Addr().String(), faults)
	c1 := dialFrom(t, ipN1, p.Addr())
	c2 := dialFrom(t, ipN2, p.Addr())
	mustEcho(t, c1, "before")
	mustEcho(t, c2, "before")
	before := echo.received.Load()

	faults.Cut("n1", "n3", Blackhole)
	if _, err := io.WriteString(c1, "during\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cut link's bytes to be held", func() bool { return p.Stats().Held == int64(len("during\n")) })
	mustEcho(t, c2, "other link")
	if got := echo.received.Load() - before; got != int64(len("other link\n")) {
		t.Fatalf("upstream received %d bytes across the cut, want only the other link's", got)
	}
	// A new connection over the cut link is held too.
	c3 := dialFrom(t, ipN1, p.Addr())
	if _, err := io.WriteString(c3, "new\n"); err != nil {
		t.Fatal(err)
	}

	faults.Heal("n1", "n3")
	if got, err := readLine(c1); err != nil || got != "during" {
		t.Fatalf("after heal: %q, %v", got, err)
	}
	if got, err := readLine(c3); err != nil || got != "new" {
		t.Fatalf("held connection after heal: %q, %v", got, err)
	}
}

func TestProxyOneWayCut(t *testing.T) {
	echo := startEcho(t)
	faults := NewFaults()
	p := startProxy(t, echo.ln.Addr().String(), faults)
	c := dialFrom(t, ipN1, p.Addr())
	mustEcho(t, c, "x")
	before := echo.received.Load()

	faults.Cut("n3", "n1", Blackhole)
	if _, err := io.WriteString(c, "request\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the request to reach the node", func() bool { return echo.received.Load()-before == int64(len("request\n")) })
	waitFor(t, "the reply to be held", func() bool { return p.Stats().Held == int64(len("request\n")) })
	faults.HealAll()
	if got, err := readLine(c); err != nil || got != "request" {
		t.Fatalf("reply after heal: %q, %v", got, err)
	}
}

func TestProxyResetMode(t *testing.T) {
	echo := startEcho(t)
	faults := NewFaults()
	p := startProxy(t, echo.ln.Addr().String(), faults)
	c1 := dialFrom(t, ipN1, p.Addr())
	c2 := dialFrom(t, ipN2, p.Addr())
	mustEcho(t, c1, "a")
	mustEcho(t, c2, "a")

	faults.CutBoth("n1", "n3", Reset)
	if _, err := readLine(c1); err == nil || isTimeout(err) {
		t.Fatalf("established connection over a reset cut: %v", err)
	}
	// The reset may reach a new connection while it is still dialing or
	// at its first round trip; either way it must not carry data.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ipN1)}, Timeout: 5 * time.Second}
	if fresh, err := d.Dial("tcp", p.Addr().String()); err == nil {
		defer fresh.Close()
		if _, err := roundTrip(fresh, "b"); err == nil || isTimeout(err) {
			t.Fatalf("new connection over a reset cut: %v", err)
		}
	} else if isTimeout(err) {
		t.Fatalf("dial over a reset cut timed out instead of being reset: %v", err)
	}
	mustEcho(t, c2, "unaffected")
	if p.Stats().Resets < 2 {
		t.Fatalf("resets %d", p.Stats().Resets)
	}
	faults.HealAll()
	mustEcho(t, dialFrom(t, ipN1, p.Addr()), "healed")
}

// isTimeout tells a test's safety-net deadline from a real reset or close.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestProxyDelay(t *testing.T) {
	echo := startEcho(t)
	faults := NewFaults()
	p := startProxy(t, echo.ln.Addr().String(), faults)
	c := dialFrom(t, ipN1, p.Addr())
	mustEcho(t, c, "warm")
	const d = 150 * time.Millisecond
	faults.Delay("n1", "n3", d)
	faults.Delay("n3", "n1", d)
	start := time.Now()
	mustEcho(t, c, "slow")
	// A lower bound only: the delay guarantees it however slow the machine.
	if took := time.Since(start); took < 2*d {
		t.Fatalf("round trip took %v with %v each way", took, d)
	}
	faults.HealAll()
	mustEcho(t, c, "fast again")
}

func TestProxyCloseEndsConnections(t *testing.T) {
	echo := startEcho(t)
	faults := NewFaults()
	p := startProxy(t, echo.ln.Addr().String(), faults)
	c := dialFrom(t, ipN1, p.Addr())
	mustEcho(t, c, "a")
	held := dialFrom(t, ipN2, p.Addr())
	faults.Cut("n2", "n3", Blackhole)
	io.WriteString(held, "stuck\n")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := readLine(c); !errors.Is(err, io.EOF) {
		t.Fatalf("after close: %v, want EOF", err)
	}
	if _, err := Listen(Config{Node: "n3"}, faults, slog.New(slog.DiscardHandler)); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("empty config: %v", err)
	}
}
