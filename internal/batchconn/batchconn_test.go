package batchconn

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

// recorder is a connection that notes each write that reaches it.
type recorder struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.writes = append(r.writes, bytes.Clone(p))
	r.mu.Unlock()
	return r.Conn.Write(p)
}

func (r *recorder) sent() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slicesClone(r.writes)
}

func slicesClone(s [][]byte) [][]byte { return append([][]byte(nil), s...) }

// pair is a wrapped server end over a recorder, and the peer's end.
func pair(t *testing.T) (server net.Conn, rec *recorder, peer net.Conn) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	rec = &recorder{Conn: a}
	return Wrap(rec), rec, b
}

func readN(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	return string(buf)
}

// TestRepliesLeaveTogetherAtRead: three replies written one by one reach
// the connection as one write, when the server goes to read the next
// command, and the peer gets them before it has to send anything.
func TestRepliesLeaveTogetherAtRead(t *testing.T) {
	server, rec, peer := pair(t)
	for _, r := range []string{"250 a\r\n", "250 b\r\n", "250 c\r\n"} {
		if _, err := server.Write([]byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(rec.sent()); n != 0 {
		t.Fatalf("%d writes reached the connection before the server read", n)
	}
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 4)
		n, _ := server.Read(buf)
		got <- string(buf[:n])
	}()
	if r := readN(t, peer, 21); r != "250 a\r\n250 b\r\n250 c\r\n" {
		t.Fatalf("peer read %q", r)
	}
	if _, err := peer.Write([]byte("QUIT")); err != nil {
		t.Fatal(err)
	}
	if cmd := <-got; cmd != "QUIT" {
		t.Fatalf("server read %q", cmd)
	}
	if w := rec.sent(); len(w) != 1 {
		t.Fatalf("the replies took %d writes, want 1: %q", len(w), w)
	}
}

// TestWriteDuringReadGoesOut: a reply written while another goroutine is
// in Read is sent at once, as the peer may be waiting for it before it
// sends anything: were it held, the peer below would wait for ever.
func TestWriteDuringReadGoesOut(t *testing.T) {
	server, _, peer := pair(t)
	done := make(chan error, 1)
	go func() {
		_, err := server.Read(make([]byte, 1))
		done <- err
	}()
	for server.(*conn).reading.Load() == 0 {
		runtime.Gosched()
	}
	// net.Pipe's Write waits for the reader, so it runs apart.
	wrote := make(chan error, 1)
	go func() {
		_, err := server.Write([]byte("$"))
		wrote <- err
	}()
	if r := readN(t, peer, 1); r != "$" {
		t.Fatalf("peer read %q", r)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	peer.Write([]byte("!"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestCloseSendsWhatIsHeld: a last reply before Close is not lost.
func TestCloseSendsWhatIsHeld(t *testing.T) {
	server, _, peer := pair(t)
	server.Write([]byte("221 bye\r\n"))
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(peer)
		got <- string(b)
	}()
	if err := server.Close(); err != nil {
		t.Fatal(err)
	}
	if r := <-got; r != "221 bye\r\n" {
		t.Fatalf("peer got %q", r)
	}
}

// TestLargeWritesAreNotHeld: past maxHeld, what is held and the new write
// go out without waiting for a read.
func TestLargeWritesAreNotHeld(t *testing.T) {
	server, rec, peer := pair(t)
	go io.Copy(io.Discard, peer)
	server.Write([]byte("small"))
	if _, err := server.Write(make([]byte, maxHeld)); err != nil {
		t.Fatal(err)
	}
	if w := rec.sent(); len(w) != 2 || string(w[0]) != "small" || len(w[1]) != maxHeld {
		t.Fatalf("writes %d, want the held bytes then the large write", len(w))
	}
}

// TestTLSPassesThrough: the listener leaves a TLS server's connections as
// they are.
func TestTLSPassesThrough(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	l := Listen(tls.NewListener(raw, &tls.Config{}))
	go func() {
		if c, err := net.Dial("tcp", raw.Addr().String()); err == nil {
			c.Close()
		}
	}()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*tls.Conn); !ok {
		t.Fatalf("accepted %T, want *tls.Conn", c)
	}
}

// TestHeldSendKeepsTheServersDeadline: what is held goes out under the
// write deadline the server set, even when the send happens at its next
// read; a peer that does not read makes that read fail with the timeout,
// not wait for ever.
func TestHeldSendKeepsTheServersDeadline(t *testing.T) {
	server, _, _ := pair(t) // the peer never reads
	server.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := server.Write([]byte("* 1 EXISTS\r\n")); err != nil {
		t.Fatal(err)
	}
	_, err := server.Read(make([]byte, 16))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after a send the peer never took: %v, want the write deadline's timeout", err)
	}
	if _, err := server.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a write after the failed send: %v", err)
	}
}

// TestCloseEndsAStuckSend: a send stuck on a peer that stopped reading
// does not hold Close.
func TestCloseEndsAStuckSend(t *testing.T) {
	server, _, _ := pair(t) // the peer never reads
	server.Write([]byte("* BYE\r\n"))
	readDone := make(chan error, 1)
	go func() {
		_, err := server.Read(make([]byte, 16)) // sends what is held, and sticks
		readDone <- err
	}()
	// Close returns once the stuck send has given up, whether Read or
	// Close itself made it; the read then fails.
	if err := server.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-readDone; err == nil {
		t.Fatal("the stuck read ended without an error")
	}
}
