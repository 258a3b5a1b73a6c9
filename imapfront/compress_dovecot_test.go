package imapfront_test

import (
	"bufio"
	"compress/flate"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// TestCompressDovecotDifferential runs one script of COMPRESS commands,
// plain and then compressed, against Dovecot (imap_zlib) and a Rookery
// frontend and compares each tagged status and response code: COMPRESS
// before login, of an unknown mechanism, with a bad argument, the one
// that turns it on, and a second one; then a SELECT, an APPEND and a
// FETCH over the compressed stream.
func TestCompressDovecotDifferential(t *testing.T) {
	dovecotAddr := testcluster.StartDovecot(t)
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	want := runCompressScript(t, dovecotAddr)
	if want == nil {
		t.Skip("this Dovecot offers no COMPRESS=DEFLATE (its imap_zlib plugin, in dovecot-core, is missing)")
	}
	got := runCompressScript(t, c.Frontends[0].IMAPAddr)
	for i := range want {
		t.Logf("%s => %s", compressScript[i], want[i])
		if got[i] != want[i] {
			t.Errorf("%s:\n rookery %q\n dovecot %q", compressScript[i], got[i], want[i])
		}
	}
}

// compressScript: the commands before "*" go plain, the rest compressed.
var compressScript = []string{
	"COMPRESS DEFLATE",
	"LOGIN alice " + testcluster.Password,
	"COMPRESS LZ4",
	"COMPRESS",
	"COMPRESS DEFLATE extra",
	"COMPRESS DEFLATE",
	"*",
	"COMPRESS DEFLATE",
	"SELECT INBOX",
	"APPEND INBOX {24+}\r\nSubject: x\r\n\r\nsmall body",
	"FETCH 1 (BODY.PEEK[TEXT])",
	"LOGOUT",
}

var taggedStatus = regexp.MustCompile(`^(OK|NO|BAD)( \[[A-Z-]+)?`)

// runCompressScript returns, per command, its tagged status and response
// code, with the FETCH's body; nil when the server offers no COMPRESS.
func runCompressScript(t *testing.T, addr string) []string {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	var w io.Writer = conn
	br := bufio.NewReader(conn)
	line := func() string {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: read: %v", addr, err)
		}
		return strings.TrimRight(l, "\r\n")
	}
	line() // greeting
	var out []string
	for i, cmd := range compressScript {
		if cmd == "*" {
			zw, _ := flate.NewWriter(conn, flate.BestSpeed)
			w = flushEach{zw}
			br = bufio.NewReader(flate.NewReader(conn))
			out = append(out, "*")
			continue
		}
		tag := string(rune('a' + i))
		if _, err := io.WriteString(w, tag+" "+cmd+"\r\n"); err != nil {
			t.Fatal(err)
		}
		var body string
		for {
			l := line()
			if strings.Contains(l, "BODY[TEXT] {") {
				body = line()
			}
			if strings.HasPrefix(l, "* CAPABILITY ") || strings.HasPrefix(l, tag+" OK [CAPABILITY ") {
				if cmd == compressScript[1] && !strings.Contains(l, "COMPRESS=DEFLATE") {
					return nil
				}
			}
			if rest, ok := strings.CutPrefix(l, tag+" "); ok {
				out = append(out, taggedStatus.FindString(rest)+body)
				break
			}
		}
	}
	return out
}

type flushEach struct{ zw *flate.Writer }

func (f flushEach) Write(p []byte) (int, error) {
	n, err := f.zw.Write(p)
	if err == nil {
		err = f.zw.Flush()
	}
	return n, err
}
