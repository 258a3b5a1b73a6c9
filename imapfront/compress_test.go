package imapfront

import (
	"bufio"
	"compress/flate"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// countedConn counts the bytes read from the connection.
type countedConn struct {
	net.Conn
	read atomic.Int64
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// compress turns COMPRESS=DEFLATE on for rc after the server's OK: what
// it sends is deflated and sync-flushed, what it reads inflated.
func (rc *rawClient) compress() *countedConn {
	cc := &countedConn{Conn: rc.c}
	zw, err := flate.NewWriter(cc, flate.DefaultCompression)
	if err != nil {
		rc.t.Fatal(err)
	}
	rc.c = deflatingConn{Conn: cc, zw: zw}
	rc.br = bufio.NewReader(flate.NewReader(cc))
	return cc
}

type deflatingConn struct {
	net.Conn
	zw *flate.Writer
}

func (c deflatingConn) Write(p []byte) (int, error) {
	n, err := c.zw.Write(p)
	if err == nil {
		err = c.zw.Flush()
	}
	return n, err
}

// TestCompressDeflate: RFC 4978 through a frontend, with the mailbox on
// another backend than the INBOX. COMPRESS is refused before login (BAD) and
// for an unknown mechanism (NO); after its OK, commands, a synchronizing
// literal's continuation, a large FETCH, IDLE updates and LOGOUT all pass
// compressed, and the large body costs a fraction of its size on the
// wire; a second COMPRESS gets NO [COMPRESSIONACTIVE].
func TestCompressDeflate(t *testing.T) {
	cl := startTestCluster(t, 2, 1)
	cl.addUser("alice", 0)
	cl.createOn(1, "user/alice/Archive", "")

	raw := dialRaw(t, cl.frontends[0])
	raw.send("a COMPRESS DEFLATE\r\n")
	if l := raw.until("a "); !strings.HasPrefix(l, "a BAD") {
		t.Fatalf("COMPRESS before login: %q", l)
	}
	raw.send("b LOGIN alice secret\r\n")
	if l := raw.until("b "); !strings.Contains(l, "COMPRESS=DEFLATE") {
		t.Fatalf("capabilities after login lack COMPRESS=DEFLATE: %q", l)
	}
	raw.send("c COMPRESS LZ4\r\n")
	if l := raw.until("c "); !strings.HasPrefix(l, "c NO") {
		t.Fatalf("COMPRESS of an unknown mechanism: %q", l)
	}
	raw.send("d COMPRESS deflate\r\n")
	if l := raw.until("d "); !strings.HasPrefix(l, "d OK") {
		t.Fatalf("COMPRESS DEFLATE: %q", l)
	}
	wire := raw.compress()

	raw.send("e COMPRESS DEFLATE\r\n")
	if l := raw.until("e "); !strings.HasPrefix(l, "e NO [COMPRESSIONACTIVE]") {
		t.Fatalf("a second COMPRESS: %q", l)
	}
	raw.send("e2 COMPRESS LZ4\r\n")
	if l := raw.until("e2 "); !strings.HasPrefix(l, "e2 NO ") || strings.Contains(l, "COMPRESSIONACTIVE") {
		t.Fatalf("COMPRESS of another mechanism while DEFLATE is on: %q", l)
	}
	var body strings.Builder
	body.WriteString("From: a@example.org\r\nSubject: big\r\n\r\n")
	for i := 0; body.Len() < 300_000; i++ {
		fmt.Fprintf(&body, "line %d of a long and dull message body\r\n", i)
	}
	raw.send(fmt.Sprintf("f APPEND Archive {%d}\r\n", body.Len()))
	if l := raw.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND continuation: %q", l)
	}
	raw.send(body.String() + "\r\n")
	if l := raw.until("f "); !strings.HasPrefix(l, "f OK") {
		t.Fatalf("APPEND: %q", l)
	}
	raw.send("g SELECT Archive\r\n")
	if l := raw.until("g "); !strings.HasPrefix(l, "g OK") {
		t.Fatalf("SELECT: %q", l)
	}
	before := wire.read.Load()
	raw.send("h FETCH 1 BODY.PEEK[]\r\n")
	l := raw.line()
	want := fmt.Sprintf("BODY[] {%d}", body.Len())
	if !strings.HasPrefix(l, "* 1 FETCH (") || !strings.HasSuffix(l, want) {
		t.Fatalf("FETCH: %q, want one ending in %q", l, want)
	}
	got := make([]byte, body.Len())
	if _, err := io.ReadFull(raw.br, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != body.String() {
		t.Fatal("the body fetched differs from the one appended")
	}
	if l := raw.until("h "); !strings.HasPrefix(l, "h OK") {
		t.Fatalf("FETCH: %q", l)
	}
	if n := wire.read.Load() - before; n > int64(body.Len())/4 {
		t.Fatalf("a %d-byte body took %d bytes compressed", body.Len(), n)
	}

	raw.send("i IDLE\r\n")
	if l := raw.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	other := login(t, cl.frontends[0], "alice", nil)
	appendMsg(t, other, "Archive", "news", nil, time.Now())
	raw.until("* 2 EXISTS")
	raw.send("DONE\r\n")
	if l := raw.until("i "); !strings.HasPrefix(l, "i OK") {
		t.Fatalf("IDLE: %q", l)
	}
	raw.send("j LIST \"\" \"*\"\r\n")
	if l := raw.until("j "); !strings.HasPrefix(l, "j OK") {
		t.Fatalf("LIST: %q", l)
	}
	raw.send("k LOGOUT\r\n")
	raw.until("* BYE")
	if l := raw.until("k "); !strings.HasPrefix(l, "k OK") {
		t.Fatalf("LOGOUT: %q", l)
	}
}

// TestCompressRefusesDataAfterIt: bytes sent behind COMPRESS, before its
// OK, could be meant compressed or not; the session ends with BAD and
// nothing of them runs.
func TestCompressRefusesDataAfterIt(t *testing.T) {
	cl := startTestCluster(t, 1, 1)
	cl.addUser("alice", 0)
	raw := dialRaw(t, cl.frontends[0])
	raw.send("a LOGIN alice secret\r\n")
	raw.until("a OK")
	raw.send("b COMPRESS DEFLATE\r\nc CREATE Later\r\n")
	if l := raw.until("b "); !strings.HasPrefix(l, "b BAD") {
		t.Fatalf("COMPRESS with data behind it: %q", l)
	}
	if l, err := raw.br.ReadString('\n'); err == nil {
		t.Fatalf("the session went on after the refusal: %q", l)
	}
	c := login(t, cl.frontends[0], "alice", nil)
	if mboxes, err := c.List("", "Later", nil).Collect(); err != nil || len(mboxes) != 0 {
		t.Fatalf("LIST Later after the refusal: %v, %v", mboxes, err)
	}
}

// TestCompressCorruptStream: bytes that do not inflate end the session,
// and nothing read before the corruption in that command runs.
func TestCompressCorruptStream(t *testing.T) {
	cl := startTestCluster(t, 1, 1)
	cl.addUser("alice", 0)
	raw := dialRaw(t, cl.frontends[0])
	raw.send("a LOGIN alice secret\r\n")
	raw.until("a OK")
	raw.send("b COMPRESS DEFLATE\r\n")
	raw.until("b OK")
	// A stored block of 30 bytes whose length check (NLEN) is wrong.
	raw.send("\x00\x1e\x00\x00\x00c CREATE Corrupt\r\n")
	raw.compress()
	if l, err := raw.br.ReadString('\n'); err == nil {
		t.Fatalf("the session went on after a corrupt stream: %q", l)
	}
	c := login(t, cl.frontends[0], "alice", nil)
	if mboxes, err := c.List("", "Corrupt", nil).Collect(); err != nil || len(mboxes) != 0 {
		t.Fatalf("LIST Corrupt after the corrupt stream: %v, %v", mboxes, err)
	}
}

// TestCompressCutOffAppend: a compressed client that goes away part way
// through an APPEND's literal stores nothing, as a plain one does; the
// whole message, sent the same way, is stored.
func TestCompressCutOffAppend(t *testing.T) {
	cl := startTestCluster(t, 1, 1)
	cl.addUser("alice", 0)
	msg := "From: a@example.org\r\nSubject: cut\r\n\r\n" + strings.Repeat("body ", 40)
	appendCompressed := func(data string) (wire *countedConn, raw *rawClient) {
		raw = dialRaw(t, cl.frontends[0])
		raw.send("a LOGIN alice secret\r\n")
		raw.until("a OK")
		raw.send("b COMPRESS DEFLATE\r\n")
		raw.until("b OK")
		wire = raw.compress()
		raw.send(fmt.Sprintf("c APPEND INBOX {%d}\r\n", len(msg)))
		if l := raw.line(); !strings.HasPrefix(l, "+") {
			t.Fatalf("APPEND continuation: %q", l)
		}
		raw.send(data)
		return wire, raw
	}
	wire, raw := appendCompressed(msg[:len(msg)/2])
	wire.Conn.(*net.TCPConn).CloseWrite()
	rest, _ := io.ReadAll(raw.br) // until the frontend ends the session
	if strings.Contains(string(rest), "c OK") {
		t.Fatalf("a cut-off APPEND was answered OK: %q", rest)
	}
	c := login(t, cl.frontends[0], "alice", nil)
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 0 {
		t.Fatalf("INBOX after a cut-off compressed APPEND: %v, %d messages", err, *st.NumMessages)
	}
	_, raw = appendCompressed(msg + "\r\n")
	if l := raw.until("c "); !strings.HasPrefix(l, "c OK") {
		t.Fatalf("the whole APPEND: %q", l)
	}
	st, err = c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 1 {
		t.Fatalf("INBOX after the whole compressed APPEND: %v, %d messages", err, *st.NumMessages)
	}
}
