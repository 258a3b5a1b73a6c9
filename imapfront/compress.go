package imapfront

import (
	"bufio"
	"bytes"
	"compress/flate"
	"io"
	"strings"
	"sync"
)

// COMPRESS=DEFLATE (RFC 4978) compresses the client's connection only: the
// frontend inflates the client's commands and deflates its responses, and
// its links to backends stay as they were. After the tagged OK both
// directions are raw DEFLATE (RFC 1951, no zlib header).
//
// Each time the session's buffered responses go out (a flush, or a full
// 4 KiB buffer), they are deflated on their own and sync-flushed (section
// 4: a response is never held back in the compressor) into a buffer, which
// goes to the connection in one write. A deflate stream may go on after a
// sync flush with blocks that refer to nothing before them, so the
// compressor comes from a pool for the deflating only: a session holds
// none while it waits for the client, in IDLE or behind a client that
// stopped reading (Go's deflate state is over 1 MiB at level 1). The cost
// is history: a write refers back only within itself. What a compressed
// connection does hold is the inflate state of the client's stream (about
// 45 KiB: the client's compressor may refer back 32 KiB).
//
// The wire limits (MaxCommandBytes, the literal bounds) count inflated
// bytes, so a compressed client reaches them with less sent; they bound
// what a session holds either way.

// compressLevel is the deflate level of compressed sessions: IMAP's text
// compresses well at any level, and a core serves more at the fastest.
const compressLevel = flate.BestSpeed

var (
	deflaters = sync.Pool{New: func() any {
		zw, err := flate.NewWriter(io.Discard, compressLevel)
		if err != nil {
			panic(err) // only for a level out of range
		}
		return zw
	}}
	deflated = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

// deflatingWriter deflates each write to dst on its own, sync-flushed,
// and sends it in one write.
type deflatingWriter struct{ dst io.Writer }

func (w deflatingWriter) Write(p []byte) (int, error) {
	buf := deflated.Get().(*bytes.Buffer)
	buf.Reset()
	zw := deflaters.Get().(*flate.Writer)
	zw.Reset(buf)
	zw.Write(p) // into a bytes.Buffer: no error
	zw.Flush()
	zw.Reset(io.Discard)
	deflaters.Put(zw)
	_, err := w.dst.Write(buf.Bytes())
	if buf.Cap() <= 64<<10 {
		deflated.Put(buf)
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

func (s *session) cmdCompress(cmd *Command) bool {
	a := cmd.argReader()
	mech, err := a.atom()
	if err == nil {
		err = a.done()
	}
	switch {
	case err != nil:
		s.fail(cmd.Tag, err)
		return true
	case !strings.EqualFold(mech, "DEFLATE"):
		// A well-formed name of a mechanism not offered: NO, as Dovecot
		// and Cyrus answer (RFC 4978 keeps BAD for invalid arguments).
		s.tagged(cmd.Tag, "NO", "unknown compression mechanism %s", mech)
		return true
	case s.compressed:
		s.tagged(cmd.Tag, "NO", "[COMPRESSIONACTIVE] DEFLATE active already")
		return true
	case s.br.Buffered() > 0:
		// The client must wait for the OK before it compresses: what it
		// sent after COMPRESS is neither plain nor compressed for sure.
		// Only what has been read is seen here; bytes still on their way
		// are taken as compressed, as the client must have meant.
		s.tagged(cmd.Tag, "BAD", "data after COMPRESS")
		s.flush()
		return false
	}
	s.ok(cmd.Tag, "DEFLATE active")
	if s.flush() != nil {
		return false
	}
	s.compressed = true
	// The inflater (inflate.go) hands out each block as it ends, as
	// compress/flate does not. It reads the connection through a buffer
	// of its own: the compressed stream lasts as long as the connection,
	// so nothing after it can be lost in that buffer.
	s.br.Reset(newInflater(bufio.NewReaderSize(s.nc, 4096)))
	s.bw.Reset(deflatingWriter{s.nc})
	return true
}
