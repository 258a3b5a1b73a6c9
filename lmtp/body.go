package lmtp

import (
	"bufio"
	"bytes"
	"io"
	"sync"
)

// chunkSize is how much of a body is read before it goes on to the
// backends: a typical message goes in one piece, a large one streams
// without being held whole in memory.
const chunkSize = 32 << 10

var chunkBufs = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// streamBody reads the body from r and hands each chunk to every backend as
// soon as it is read. It returns the error that ended the body early (the
// size limit, the client gone), or nil at its end.
func streamBody(r io.Reader, txns []*backendTxn) error {
	buf := chunkBufs.Get().(*[]byte)
	defer chunkBufs.Put(buf)
	for {
		n, err := fill(r, *buf)
		if n > 0 {
			for _, t := range txns {
				t.take((*buf)[:n])
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// fill reads until buf is full or the body ends. Unlike io.ReadFull it
// keeps an unexpected EOF (the client hung up mid-body) apart from the
// body's end.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// dotStuffer writes a body as DATA carries it (RFC 5321, section 4.5.2):
// a line that starts with a dot gets a second one, and the body ends with
// a line holding a single dot. Lines end at CRLF, as the reading side
// counts them; the body's bytes are otherwise passed on as they came.
type dotStuffer struct {
	w   *bufio.Writer
	bol bool // the next byte starts a line
	cr  bool // the last byte written was a CR
}

func newDotStuffer(w *bufio.Writer) *dotStuffer { return &dotStuffer{w: w, bol: true} }

var crlf = []byte("\r\n")

func (d *dotStuffer) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if d.bol && p[0] == '.' {
			d.w.WriteByte('.')
		}
		next := 0 // just past the end of the line, when it ends in p
		if d.cr && p[0] == '\n' {
			next = 1
		} else if i := bytes.Index(p, crlf); i >= 0 {
			next = i + 2
		}
		if next == 0 {
			d.bol, d.cr = false, p[len(p)-1] == '\r'
			if _, err := d.w.Write(p); err != nil {
				return 0, err
			}
			break
		}
		d.bol, d.cr = true, false
		if _, err := d.w.Write(p[:next]); err != nil {
			return 0, err
		}
		p = p[next:]
	}
	return n, nil
}

// Close ends the body with the line holding a single dot and flushes.
func (d *dotStuffer) Close() error {
	if !d.bol {
		d.w.Write(crlf)
	}
	d.w.WriteString(".\r\n")
	return d.w.Flush()
}
