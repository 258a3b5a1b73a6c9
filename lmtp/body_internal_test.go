package lmtp

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"net/textproto"
	"testing"
)

// TestDotStuffer: for bodies with CRLF line ends, written in pieces of any
// size (so that a CRLF or a leading dot may fall on a boundary), the
// stuffed form is the one net/textproto's DotWriter gives. (DotWriter also
// rewrites lone CRs and LFs, and sends an empty body as an empty line; the
// proxy passes the body on as it came.)
func TestDotStuffer(t *testing.T) {
	bodies := []string{
		"\r\n",
		".\r\n",
		"..\r\n",
		"a\r\n.\r\nb\r\n",
		".start\r\nmiddle.\r\n.\r\n..end\r\n",
		"no final line end",
		"x\r\n.",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		var b bytes.Buffer
		for range rng.IntN(40) {
			b.WriteString([]string{".", "..", "a", "\r\n", "xyz"}[rng.IntN(5)])
		}
		bodies = append(bodies, b.String())
	}
	for _, body := range bodies {
		if body == "" {
			continue // DotWriter sends an empty body as one empty line
		}
		want := stuffedByTextproto(body)
		for _, piece := range []int{1, 2, 3, 7, len(body) + 1} {
			if got := stuffed(t, body, piece); got != want {
				t.Errorf("body %q in pieces of %d:\n got %q\nwant %q", body, piece, got, want)
			}
		}
	}
	if got := stuffed(t, "", 1); got != ".\r\n" {
		t.Errorf("empty body: got %q, want %q", got, ".\r\n")
	}
	// A lone CR before a CRLF split across two writes still ends the line.
	if got, want := stuffed(t, "a\r\r\n.b\r\n", 2), "a\r\r\n..b\r\n.\r\n"; got != want {
		t.Errorf("lone CR: got %q, want %q", got, want)
	}
}

func stuffedByTextproto(body string) string {
	var want bytes.Buffer
	dw := textproto.NewWriter(bufio.NewWriter(&want)).DotWriter()
	io.WriteString(dw, body)
	dw.Close()
	return want.String()
}

// stuffed is body through a dotStuffer, written in pieces of piece bytes.
func stuffed(t *testing.T, body string, piece int) string {
	t.Helper()
	var got bytes.Buffer
	d := newDotStuffer(bufio.NewWriter(&got))
	for rest := []byte(body); len(rest) > 0; {
		n := min(piece, len(rest))
		if _, err := d.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return got.String()
}
