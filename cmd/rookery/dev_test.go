package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer the dev cluster writes to while the test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// freePortRange finds n consecutive free loopback ports and returns the
// first.
func freePortRange(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		_, p, _ := net.SplitHostPort(freePort(t))
		base, _ := strconv.Atoi(p)
		ok := true
		for i := 0; i < n && ok; i++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if ok = err == nil; ok {
				ln.Close()
			}
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

// TestDevNodeStopStart runs `rookery dev` with one node: it writes the
// node's config and its banner names it, `rookery admin --config` works
// with that file, and the node can be stopped and started again from the
// terminal.
func TestDevNodeStopStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	base := freePortRange(t, 12)
	args := []string{"--dir", dir, "--nodes", "1", "--base-port", fmt.Sprint(base), "--imap-port", fmt.Sprint(base + 7),
		"--imaps-port", fmt.Sprint(base + 8), "--lmtp-port", fmt.Sprint(base + 9),
		"--pop3-port", fmt.Sprint(base + 10), "--pop3s-port", fmt.Sprint(base + 11)}

	// A first run that cannot start (a port taken) leaves no directory.
	taken, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+1))
	if err != nil {
		t.Fatal(err)
	}
	if err := runDevUntil(context.Background(), args, strings.NewReader(""), io.Discard); err == nil {
		t.Fatal("dev started with its API port taken")
	}
	taken.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("a failed first run left %s behind: %v", dir, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	stdin, typed := io.Pipe()
	var out lockedBuffer
	done := make(chan error, 1)
	go func() { done <- runDevUntil(ctx, args, stdin, &out) }()
	defer func() {
		cancel()
		typed.Close()
		if err := <-done; err != nil {
			t.Errorf("dev: %v", err)
		}
	}()
	waitUntil(t, "the dev banner", func() bool { return strings.Contains(out.String(), `Type "stop node1"`) })
	cfgPath := filepath.Join(dir, "node1.toml")
	if !strings.Contains(out.String(), "admin --config "+cfgPath+" status") {
		t.Fatalf("the banner does not name %s:\n%s", cfgPath, out.String())
	}
	status := func() error {
		return runAdmin([]string{"--config", cfgPath, "--timeout", "5s", "status"}, io.Discard, io.Discard)
	}
	var table bytes.Buffer
	if err := runAdmin([]string{"--config", cfgPath, "--timeout", "5s", "status"}, &table, io.Discard); err != nil {
		t.Fatalf("admin --config %s status: %v", cfgPath, err)
	}
	if !strings.Contains(table.String(), "replication: every mailbox has its copies") {
		t.Errorf("admin status does not say how replication stands:\n%s", table.String())
	}

	// Through the frontend's LMTP, the 250 after DATA says delivered.
	if got := lmtpDeliver(t, fmt.Sprintf("127.0.0.1:%d", base+9), devUser+"@localhost"); got != "250 2.0.0 <demo@localhost> Delivered" {
		t.Errorf("LMTP reply to DATA %q", got)
	}
	var domains bytes.Buffer
	if err := runAdmin([]string{"--config", cfgPath, "--timeout", "5s", "domain", "list"}, &domains, io.Discard); err != nil ||
		!strings.Contains(domains.String(), "localhost  default") {
		t.Errorf("admin domain list: %v\n%s", err, domains.String())
	}

	fmt.Fprintln(typed, "stop node1")
	waitUntil(t, "node1 stopped", func() bool { return strings.Contains(out.String(), "stopped node1\n") })
	if err := status(); err == nil {
		t.Fatal("admin status answered with the only node stopped")
	}
	fmt.Fprintln(typed, "stop node1")
	waitUntil(t, "a second stop refused", func() bool { return strings.Contains(out.String(), "node1 is not running\n") })
	fmt.Fprintln(typed, "start node1")
	waitUntil(t, "node1 started", func() bool { return strings.Contains(out.String(), "started node1\n") })
	waitUntil(t, "admin status through node1 again", func() bool { return status() == nil })
}

// lmtpDeliver delivers one message to rcpt over LMTP at addr and returns
// the reply to DATA.
func lmtpDeliver(t *testing.T, addr, rcpt string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(time.Minute)) // a wrong port fails, never hangs
	c := textproto.NewConn(conn)
	defer c.Close()
	step := func(want int, format string, args ...any) string {
		t.Helper()
		if format != "" {
			if err := c.PrintfLine(format, args...); err != nil {
				t.Fatal(err)
			}
		}
		code, msg, err := c.ReadResponse(want)
		if err != nil {
			t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
		}
		return fmt.Sprintf("%d %s", code, msg)
	}
	step(220, "")
	step(250, "LHLO test.example")
	step(250, "MAIL FROM:<s@example.org>")
	step(250, "RCPT TO:<%s>", rcpt)
	step(354, "DATA")
	return step(250, "Subject: hello\r\n\r\nhi\r\n.")
}

// TestDevDefaultPortsDoNotClash: with the default port flags, no two
// listeners of a dev cluster of up to devMaxNodes nodes share an address
// (the IMAPS range once ran into the POP3S port at three nodes).
func TestDevDefaultPortsDoNotClash(t *testing.T) {
	for n := 1; n <= devMaxNodes; n++ {
		cfgs := devConfigs(t.TempDir(), "secret", n, devBasePort, devIMAPPort, devLMTPPort)
		devClientPorts(cfgs, devBasePort, devIMAPSPort, devPOP3Port, devPOP3SPort)
		if err := devPortClash(cfgs); err != nil {
			t.Errorf("%d nodes: %v", n, err)
		}
	}
	cfgs := devConfigs(t.TempDir(), "secret", 3, devBasePort, devIMAPPort, devLMTPPort)
	devClientPorts(cfgs, devBasePort, devIMAPSPort, devPOP3Port, devIMAPSPort+2)
	if err := devPortClash(cfgs); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d", devIMAPSPort+2)) {
		t.Errorf("overlapping IMAPS and POP3S ranges: %v", err)
	}
}

// TestDevThreeNodes runs `rookery dev` as the README does, with three
// nodes: they elect a leader (a fresh cluster needs every voter open before
// any can start), the banner lists all three, and a message delivered
// through the third node's LMTP is acknowledged.
func TestDevThreeNodes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	base := freePortRange(t, 270)
	args := []string{"--dir", dir, "--nodes", "3", "--base-port", fmt.Sprint(base),
		"--imap-port", fmt.Sprint(base + 210), "--imaps-port", fmt.Sprint(base + 220),
		"--lmtp-port", fmt.Sprint(base + 230), "--pop3-port", fmt.Sprint(base + 240),
		"--pop3s-port", fmt.Sprint(base + 250)}
	ctx, cancel := context.WithCancel(context.Background())
	var out lockedBuffer
	done := make(chan error, 1)
	go func() { done <- runDevUntil(ctx, args, strings.NewReader(""), &out) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dev: %v", err)
		}
	}()
	waitUntil(t, "the dev banner", func() bool {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("dev ended before its banner: %v\n%s", err, out.String())
		default:
		}
		return strings.Contains(out.String(), `Type "stop node3"`)
	})
	for _, n := range []string{"node1", "node2", "node3"} {
		if !strings.Contains(out.String(), "  "+n+"  IMAP ") {
			t.Errorf("the banner does not list %s:\n%s", n, out.String())
		}
	}
	if got := lmtpDeliver(t, fmt.Sprintf("127.0.0.1:%d", base+232), devUser+"@localhost"); !strings.HasPrefix(got, "250 ") {
		t.Errorf("LMTP reply to DATA through node3 %q", got)
	}
}
