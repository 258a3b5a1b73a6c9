package lmtp

import (
	"io"
	"sync"
)

// chunkSize is how much of a body is read before it goes on to the
// backends: a typical message goes in one chunk, a large one streams
// without being held whole in memory.
const chunkSize = 32 << 10

var chunkBufs = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// streamBody reads the body from r into buf and hands each chunk to every
// backend as soon as it is read, the one that ends the body marked last.
// It returns the error that ended the body early (the size limit, the
// client gone), or nil at its end; after an error no chunk is marked last.
func streamBody(r io.Reader, buf []byte, txns []*backendTxn) error {
	for {
		n, err := fill(r, buf)
		if err != nil && err != io.EOF {
			return err
		}
		for _, t := range txns {
			t.chunk(buf[:n], err == io.EOF)
		}
		if err == io.EOF {
			return nil
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
