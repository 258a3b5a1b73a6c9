package imapfront

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// A command refused before login has its literals consumed: a literal
// holding a LOGIN must not log the connection in. APPEND is refused right
// after a failed LOGIN; a LOGIN is refused for a NUL in its first line.
func TestRefusedCommandConsumesLiteral(t *testing.T) {
	inner := "Subject: x\r\n\r\nZ8 LOGIN alice secret\r\n"
	for _, refused := range []string{
		fmt.Sprintf("b APPEND INBOX {%d+}\r\n%s\r\n", len(inner), inner),
		fmt.Sprintf("b LOGIN \"x\x00y\" {%d+}\r\n%s\r\n", len(inner), inner),
	} {
		addr, _ := startAlice(t, nil)
		rc := dialRaw(t, addr)
		rc.send("a LOGIN alice wrong\r\n")
		rc.expect("a NO", "wrong password")
		rc.send(refused)
		rc.expect("b BAD", "refused command "+strings.Fields(refused)[1])
		rc.send("c SELECT INBOX\r\n")
		rc.expect("c BAD", "after the refused "+strings.Fields(refused)[1])
	}
}

// A NUL in a quoted string is answered with one tagged BAD, before and
// after login, so the client does not wait forever.
func TestNULInQuotedStringTaggedBAD(t *testing.T) {
	addr, _ := startAlice(t, nil)
	rc := dialRaw(t, addr)
	rc.send("a1 LOGIN \"al\x00ice\" secret\r\n")
	rc.expect("a1 BAD", "before login")
	rc.send("a2 LOGIN alice secret\r\n")
	rc.until("a2 OK")
	rc.send("a3 SELECT \"IN\x00BOX\"\r\n")
	rc.expect("a3 BAD", "after login")
	rc.send("a4 NOOP\r\n")
	rc.expect("a4 OK", "after the BAD")
}

// Before login LITERAL+ is not offered, only LITERAL- (RFC 7888), and a
// non-synchronizing literal over 4096 bytes is refused with its command.
func TestPreAuthLiteralMinus(t *testing.T) {
	addr, _ := startAlice(t, nil)
	rc := dialRaw(t, addr)
	rc.send("a CAPABILITY\r\n")
	caps := rc.line()
	if strings.Contains(caps, "LITERAL+") || !strings.Contains(caps, "LITERAL-") {
		t.Fatalf("capabilities before login: %q", caps)
	}
	rc.until("a OK")
	rc.send(fmt.Sprintf("b LOGIN {5000+}\r\n%s secret\r\n", strings.Repeat("x", 5000)))
	rc.expect("b BAD [TOOBIG]", "5000-byte non-synchronizing literal")
	rc.send("c LOGIN alice secret\r\n")
	l := rc.until("c ")
	if !strings.HasPrefix(l, "c OK") || !strings.Contains(l, "LITERAL+") {
		t.Fatalf("login: %q (LITERAL+ after login)", l)
	}
}

// One command before login may not grow without bound: many small
// synchronizing literals stop being accepted once the command is over
// PreAuthMaxCommandBytes.
func TestPreAuthCommandCapped(t *testing.T) {
	var cfg Config
	addr, ln := startAlice(t, func(c *Config) {
		cfg = *c
	})
	rc := dialRaw(t, addr)
	before := ln.read.Load()
	chunk := strings.Repeat("x", 1000)
	rc.send("a LOGIN {1000}\r\n")
	refused := false
	for i := 0; i < 200; i++ {
		l := rc.line()
		if strings.HasPrefix(l, "a ") {
			if !strings.HasPrefix(l, "a NO [TOOBIG]") && !strings.HasPrefix(l, "a BAD") {
				t.Fatalf("capped command: %q", l)
			}
			refused = true
			break
		}
		if !strings.HasPrefix(l, "+") {
			t.Fatalf("got %q, want a continuation", l)
		}
		rc.send(chunk + " {1000}\r\n")
	}
	if !refused {
		t.Fatal("200 literals of 1000 bytes accepted in one command before login")
	}
	if n := ln.read.Load() - before; n > int64(cfg.PreAuthMaxCommandBytes)+2048 {
		t.Fatalf("server read %d bytes of one command, cap %d", n, cfg.PreAuthMaxCommandBytes)
	}
	rc.send("b NOOP\r\n")
	if l := rc.until("b "); !strings.HasPrefix(l, "b OK") {
		t.Fatalf("after the capped command: %q", l)
	}
}

// After login a command outside APPEND is capped at MaxCommandBytes, even
// when each of its literals is within the buffered limit.
func TestCommandCapped(t *testing.T) {
	var cfg Config
	addr, ln := startAlice(t, func(c *Config) {
		c.MaxCommandBytes = 64 << 10
		cfg = *c
	})
	rc := dialRaw(t, addr)
	rc.send("a LOGIN alice secret\r\n")
	rc.until("a OK")
	before := ln.read.Load()
	chunk := strings.Repeat("x", 16<<10)
	rc.send("b SEARCH TEXT {16384}\r\n")
	refused := false
	for i := 0; i < 20; i++ {
		l := rc.line()
		if strings.HasPrefix(l, "b ") {
			if !strings.HasPrefix(l, "b NO [TOOBIG]") {
				t.Fatalf("capped command: %q", l)
			}
			refused = true
			break
		}
		rc.send(chunk + " TEXT {16384}\r\n")
	}
	if !refused {
		t.Fatal("320 KiB command accepted under a 64 KiB cap")
	}
	if n := ln.read.Load() - before; n > cfg.MaxCommandBytes+int64(cfg.MaxLineBytes) {
		t.Fatalf("server read %d bytes of one command, cap %d", n, cfg.MaxCommandBytes)
	}
	rc.send("c NOOP\r\n")
	if l := rc.until("c "); !strings.HasPrefix(l, "c OK") {
		t.Fatalf("after the capped command: %q", l)
	}
}

// Connections not logged in are bounded per client address and in all;
// one over either bound is told BYE, and logging in frees a place.
func TestPreAuthConnectionLimits(t *testing.T) {
	addr, _ := startAlice(t, func(c *Config) { c.MaxPreAuthConnsPerAddr, c.MaxPreAuthConns = 2, 3 })
	from := func(src string) (*bufio.Reader, net.Conn) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(30 * time.Second))
		return bufio.NewReader(c), c
	}
	greeting := func(br *bufio.Reader) string {
		l, _ := br.ReadString('\n')
		return l
	}
	a1 := dialRaw(t, addr)
	a2 := dialRaw(t, addr)
	br, _ := from("127.0.0.1")
	if g := greeting(br); !strings.HasPrefix(g, "* BYE") {
		t.Fatalf("third connection from one address: %q", g)
	}
	br, _ = from("127.0.0.2")
	if g := greeting(br); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("first connection from another address: %q", g)
	}
	br, _ = from("127.0.0.3")
	if g := greeting(br); !strings.HasPrefix(g, "* BYE") {
		t.Fatalf("fourth connection in all: %q", g)
	}
	a1.send("a LOGIN alice secret\r\n")
	a1.until("a OK")
	a2.send("b LOGOUT\r\n")
	a2.until("b OK")
	waitFor(t, "places freed", func() bool {
		br, c := from("127.0.0.1")
		defer c.Close()
		return strings.HasPrefix(greeting(br), "* OK")
	})
}

// The time allowed before login runs from the connection, not from the
// last command: NOOPs do not keep an unauthenticated connection open.
func TestPreAuthDeadlineWhole(t *testing.T) {
	addr, _ := startAlice(t, func(c *Config) { c.PreAuthTimeout = 300 * time.Millisecond })
	rc := dialRaw(t, addr)
	for i := 0; ; i++ {
		rc.send(fmt.Sprintf("n%d NOOP\r\n", i))
		if l := rc.line(); strings.HasPrefix(l, "* BYE") {
			return
		}
	}
}

// expect reads one line and fails the test unless it starts with prefix.
func (rc *rawClient) expect(prefix, what string) string {
	rc.t.Helper()
	l := rc.line()
	if !strings.HasPrefix(l, prefix) {
		rc.t.Fatalf("%s: got %q, want %s...", what, l, prefix)
	}
	return l
}

// startAlice serves a frontend whose directory holds alice (password
// "secret"); tweak, if set, adjusts the configuration first.
func startAlice(t *testing.T, tweak func(*Config)) (string, *countingListener) {
	dir := newLocalDirectory()
	dir.addUser(t, "alice", "secret")
	cfg := testConfig(t, dir)
	if tweak != nil {
		tweak(&cfg)
	}
	return startFrontend(t, cfg)
}
