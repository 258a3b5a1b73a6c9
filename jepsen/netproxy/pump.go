package netproxy

import (
	"net"
	"time"
)

// chunkSize is the most one read takes from a connection.
const chunkSize = 32 << 10

// chunkQueue bounds the chunks read ahead of a stalled or delayed writer;
// past it the reader stops reading and TCP pushes back on the sender.
const chunkQueue = 16

type chunk struct {
	data []byte
	at   time.Time
}

// pump copies src to dst, holding each chunk while the link from -> to is
// cut and until its delay has passed since it was read. The reader runs
// apart so that delay is latency, not a cap on throughput.
func (c *proxyConn) pump(src, dst net.Conn, from, to string) {
	chunks := make(chan chunk, chunkQueue)
	go c.readChunks(src, chunks)
	eof := true
	for ch := range chunks {
		if !c.waitOpen(from, to) || !c.waitDelay(from, to, ch.at) {
			eof = false
			c.release(chunks, ch)
			return
		}
		_, err := dst.Write(ch.data)
		c.p.held.Add(-int64(len(ch.data)))
		c.p.forwarded.Add(int64(len(ch.data)))
		if err != nil {
			eof = false
			c.close()
			c.release(chunks, chunk{})
			return
		}
	}
	// src said EOF: pass the half-close on, so that a peer waiting for the
	// end of a request sees it.
	if tc, ok := dst.(*net.TCPConn); ok && eof {
		tc.CloseWrite()
	}
}

// readChunks reads src until it fails or closes; the pump that started it
// waits for it by draining chunks to the end.
func (c *proxyConn) readChunks(src net.Conn, chunks chan<- chunk) {
	defer close(chunks)
	for {
		buf := make([]byte, chunkSize)
		n, err := src.Read(buf)
		if n > 0 {
			c.p.held.Add(int64(n))
			select {
			case chunks <- chunk{data: buf[:n], at: time.Now()}:
			case <-c.done:
				c.p.held.Add(-int64(n))
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// release drops what is still queued once the connection is closing, and
// waits for the reader to finish.
func (c *proxyConn) release(chunks <-chan chunk, current chunk) {
	c.close()
	c.p.held.Add(-int64(len(current.data)))
	for ch := range chunks {
		c.p.held.Add(-int64(len(ch.data)))
	}
}

// waitDelay waits until the link's delay has passed since at; the delay is
// read again whenever the fault table changes. False if the connection
// closed first.
func (c *proxyConn) waitDelay(from, to string, at time.Time) bool {
	for {
		s, changed := c.p.faults.State(from, to)
		wait := time.Until(at.Add(s.Delay))
		if wait <= 0 {
			return true
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-changed:
		case <-c.done:
			t.Stop()
			return false
		}
		t.Stop()
	}
}
