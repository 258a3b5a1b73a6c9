package imapd

import (
	"bufio"
	"io"
	"net"
	"runtime"
	"testing"
)

// countingConn counts the writes that reach the network.
type countingConn struct {
	net.Conn
	writes int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes++
	return c.Conn.Write(p)
}

// TestBatchedConnWritesOnRead: what the server writes while answering goes
// out in one write when it next reads; what it writes while it reads (an
// update during IDLE) goes out at once.
func TestBatchedConnWritesOnRead(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	under := &countingConn{Conn: server}
	c := &batchedConn{Conn: under}
	defer c.Close()
	lines := "* 1 FETCH (FLAGS ())\r\n* 2 FETCH (FLAGS ())\r\na OK done\r\n"
	for _, l := range []string{"* 1 FETCH (FLAGS ())\r\n", "* 2 FETCH (FLAGS ())\r\n", "a OK done\r\n"} {
		if _, err := c.Write([]byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	if under.writes != 0 {
		t.Fatalf("%d writes reached the network while the command was answered", under.writes)
	}
	got := make(chan string, 1)
	cr := bufio.NewReader(client)
	go func() {
		b := make([]byte, len(lines))
		_, err := io.ReadFull(cr, b)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(b)
		client.Write([]byte("b IDLE\r\n"))
	}()
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "b IDLE\r\n" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if s := <-got; s != lines || under.writes != 1 {
		t.Fatalf("the client got %q in %d writes", s, under.writes)
	}

	// While the server reads (IDLE waits for DONE), an update goes out
	// at once: the client reads it before it sends DONE.
	go func() {
		line, err := cr.ReadString('\n')
		if err != nil {
			got <- err.Error()
			return
		}
		got <- line
		client.Write([]byte("DONE\r\n"))
	}()
	readDone := make(chan string, 1)
	go func() {
		n, _ := c.Read(buf)
		readDone <- string(buf[:n])
	}()
	// The update is written from another goroutine while Read blocks;
	// until the client has it, it cannot send DONE, so Read cannot end.
	for {
		c.mu.Lock()
		reading := c.reading
		c.mu.Unlock()
		if reading {
			break
		}
		runtime.Gosched()
	}
	if _, err := c.Write([]byte("* 3 EXISTS\r\n")); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "* 3 EXISTS\r\n" {
		t.Fatalf("the client got %q during IDLE", s)
	}
	if s := <-readDone; s != "DONE\r\n" {
		t.Fatalf("read %q after the update", s)
	}
}

// TestBatchedConnBoundsWhatItHolds: a response larger than batchLimit goes
// out as it is written, not all at the end.
func TestBatchedConnBoundsWhatItHolds(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	under := &countingConn{Conn: server}
	c := &batchedConn{Conn: under}
	defer c.Close()
	go io.Copy(io.Discard, client)
	chunk := make([]byte, 4096)
	for i := 0; i < 2*batchLimit/len(chunk); i++ {
		if _, err := c.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if under.writes != 2 {
		t.Fatalf("%d writes for %d bytes, want 2", under.writes, 2*batchLimit)
	}
}
