package imapfront

import (
	"bufio"
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

// TestInflaterRoundTrip: what compress/flate writes, at every level, with
// flushes anywhere, over more than the 32 KiB window and in text and in
// noise, the inflater reads back byte for byte.
func TestInflaterRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var text bytes.Buffer
	for i := 0; text.Len() < 300_000; i++ {
		fmt.Fprintf(&text, "a%d UID FETCH %d:* (FLAGS) line of a dull body %d\r\n", i, rng.IntN(1000), rng.IntN(50))
	}
	noise := make([]byte, 100_000)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	for _, in := range [][]byte{text.Bytes(), noise, []byte("x"), nil} {
		for _, level := range []int{flate.HuffmanOnly, flate.NoCompression, flate.BestSpeed, 5, flate.BestCompression} {
			var z bytes.Buffer
			w, _ := flate.NewWriter(&z, level)
			for rest := in; len(rest) > 0; {
				n := min(len(rest), 1+rng.IntN(40_000))
				w.Write(rest[:n])
				if rng.IntN(2) == 0 {
					w.Flush()
				}
				rest = rest[n:]
			}
			w.Close()
			got, err := io.ReadAll(newInflater(bytes.NewReader(z.Bytes())))
			if err != nil || !bytes.Equal(got, in) {
				t.Fatalf("level %d, %d bytes: read back %d bytes, %v", level, len(in), len(got), err)
			}
			// In reads of a few bytes, into buffers with room past
			// their length: back-references cut between reads.
			zr := newInflater(bytes.NewReader(z.Bytes()))
			got = got[:0]
			for {
				k := 1 + rng.IntN(9)
				p := make([]byte, k, 2*k)
				n, err := zr.Read(p)
				if n > k {
					t.Fatalf("Read returned %d bytes into %d", n, k)
				}
				got = append(got, p[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, in) {
				t.Fatalf("level %d, %d bytes in small reads: read back %d bytes", level, len(in), len(got))
			}
		}
	}
}

// bitWriter writes a DEFLATE bit stream, low bit first.
type bitWriter struct {
	out   []byte
	acc   uint32
	nbits uint
}

func (b *bitWriter) bits(v uint32, n uint) {
	b.acc |= v << b.nbits
	b.nbits += n
	for b.nbits >= 8 {
		b.out = append(b.out, byte(b.acc))
		b.acc >>= 8
		b.nbits -= 8
	}
}

// code writes a Huffman code, whose bits go most significant first.
func (b *bitWriter) code(v uint32, n uint) {
	var r uint32
	for i := uint(0); i < n; i++ {
		r = r<<1 | v>>i&1
	}
	b.bits(r, n)
}

// partialFlush is text in a fixed-code block, not the last, and the empty
// fixed-code block of zlib's Z_PARTIAL_FLUSH after it: 10 bits, not ending
// on a byte, so the stream's last byte is not whole yet.
func partialFlush(b *bitWriter, text string) {
	b.bits(0b010, 3) // not final, fixed codes
	for i := 0; i < len(text); i++ {
		b.code(0b00110000+uint32(text[i]), 8) // literals 0-143: 8 bits from 0x30
	}
	b.code(0, 7)     // end of block
	b.bits(0b010, 3) // the empty fixed-code block
	b.code(0, 7)
}

// quietClient is a connection that has sent data and waits: reads after
// it block until the test ends.
func quietClient(t *testing.T, data []byte) io.Reader {
	r, w := io.Pipe()
	go w.Write(data)
	t.Cleanup(func() { w.Close() })
	return r
}

// readLine reads a line from r, or "(blocked)" when none comes within wait.
func readLine(r io.Reader, wait time.Duration) string {
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		got <- line
	}()
	select {
	case l := <-got:
		return l
	case <-time.After(wait):
		return "(blocked)"
	}
}

// TestInflaterPartialFlush: a command that ends in a partial flush is read
// whole without more input, as the client then waits for the answer
// (compress/flate waits for more input first).
func TestInflaterPartialFlush(t *testing.T) {
	var b bitWriter
	partialFlush(&b, "3 NAMESPACE\r\n")
	if l := readLine(newInflater(bufio.NewReader(quietClient(t, b.out))), 10*time.Second); l != "3 NAMESPACE\r\n" {
		t.Fatalf("inflater: %q", l)
	}
	if l := readLine(flate.NewReader(quietClient(t, b.out)), 200*time.Millisecond); l != "(blocked)" {
		t.Logf("compress/flate reads a partial flush now: %q", l)
	}
	// The next command goes on from the middle of the last byte.
	partialFlush(&b, "4 NOOP\r\n")
	b.bits(0b011, 3) // final, fixed codes
	b.code(0, 7)
	b.bits(0, 7) // to the byte
	got, err := io.ReadAll(newInflater(bytes.NewReader(b.out)))
	if err != nil || string(got) != "3 NAMESPACE\r\n4 NOOP\r\n" {
		t.Fatalf("two partial flushes: %q, %v", got, err)
	}
}

// TestInflaterCorrupt: bytes that are no DEFLATE stream end in an error,
// never a panic, a hang or unbounded output; flipped bits of a real
// stream too.
func TestInflaterCorrupt(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, 6)
	for i := range 2000 {
		fmt.Fprintf(w, "line %d of something\r\n", i)
	}
	w.Close()
	good := z.Bytes()
	for i := range 3000 {
		var in []byte
		if i%2 == 0 {
			in = make([]byte, rng.IntN(200))
			for j := range in {
				in[j] = byte(rng.Uint32())
			}
		} else {
			in = append([]byte(nil), good...)
			for range 1 + rng.IntN(4) {
				in[rng.IntN(len(in))] ^= 1 << rng.IntN(8)
			}
		}
		n, _ := io.Copy(io.Discard, io.LimitReader(newInflater(bytes.NewReader(in)), 10<<20))
		if n >= 10<<20 {
			t.Fatalf("input %d of %d bytes inflated past 10 MiB", i, len(in))
		}
	}
	for _, in := range [][]byte{{0x00, 0x05, 0x00, 0xfa, 0xff}, {0x07}, {0x05, 0xe0}} {
		if _, err := io.ReadAll(newInflater(bytes.NewReader(in))); err == nil {
			t.Errorf("%x read without an error", in)
		}
	}
}

// FuzzInflater: any input, the inflater ends without a panic, and where
// compress/flate reads a whole stream without an error, the inflater reads
// the same bytes from it.
//
//	go test ./imapfront -run '^$' -fuzz FuzzInflater -fuzztime 60s
func FuzzInflater(f *testing.F) {
	for _, level := range []int{flate.HuffmanOnly, flate.NoCompression, flate.BestSpeed, flate.BestCompression} {
		var z bytes.Buffer
		w, _ := flate.NewWriter(&z, level)
		w.Write([]byte("a1 LOGIN alice secret\r\na2 SELECT INBOX\r\n"))
		w.Flush()
		w.Write(bytes.Repeat([]byte("a3 NOOP\r\n"), 20))
		w.Close()
		f.Add(z.Bytes())
	}
	var b bitWriter
	partialFlush(&b, "3 NAMESPACE\r\n")
	f.Add(b.out)
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := io.ReadAll(io.LimitReader(newInflater(bytes.NewReader(in)), 1<<20))
		want, werr := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(in)), 1<<20))
		if werr == nil && (err != nil || !bytes.Equal(got, want)) {
			t.Fatalf("compress/flate read %d bytes, the inflater %d bytes and %v", len(want), len(got), err)
		}
	})
}
