package spool

import (
	"context"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapserver"
)

// bodyStructureCases are messages whose structure the streaming parser
// must give exactly as go-imap's whole-body parser does.
var bodyStructureCases = map[string]string{
	"plain":     "From: a@example.org\r\nSubject: hi\r\n\r\nline one\r\nline two\r\n",
	"no header": "\r\njust a body\r\n",
	"no body":   "Subject: header only\r\n",
	"empty":     "",
	"bare lf":   "Subject: lf\n\nbody\nmore\n",
	"mixed": "Content-Type: multipart/mixed; boundary=XX\r\nContent-Language: en, de\r\n\r\n" +
		"preamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\nthere\r\n" +
		"--XX\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n" +
		"Content-Transfer-Encoding: base64\r\nContent-Id: <p2@x>\r\nContent-Description: a file\r\n\r\nAAAA\r\nBBBB\r\n" +
		"--XX--\r\nepilogue\r\n",
	"nested": "Content-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\n" +
		"Content-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\nContent-Type: text/plain\r\n\r\nplain\r\n" +
		"--inner\r\nContent-Type: text/html\r\nContent-Location: http://example.org/\r\n\r\n<p>html</p>\r\n--inner--\r\n" +
		"--outer\r\nContent-Type: message/rfc822\r\n\r\nFrom: b@example.org\r\nSubject: inner\r\n" +
		"Content-Type: multipart/mixed; boundary=deep\r\n\r\n--deep\r\n\r\ndefault text\r\n--deep--\r\n" +
		"--outer--\r\n",
	"missing close": "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nno end\r\n",
	"no boundary":   "Content-Type: multipart/mixed\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
	"rfc822 leaf":   "Content-Type: message/rfc822\r\n\r\nSubject: wrapped\r\n\r\nwrapped body\r\n",
}

func TestBodyStructureMatchesWholeBodyParse(t *testing.T) {
	for name, msg := range bodyStructureCases {
		want := imapserver.ExtractBodyStructure(strings.NewReader(msg))
		_, got := readBodyStructure(strings.NewReader(msg))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %#v\nwant %#v", name, got, want)
		}
	}
}

// bigMessage streams a message of size bytes after its header without
// holding it: lines of lineLen bytes, each ended by CRLF.
type bigMessage struct {
	header  []byte
	lineLen int
	left    int64
	pos     int // within the current line and its CRLF
}

func newBigMessage(header string, lineLen int, size int64) *bigMessage {
	return &bigMessage{header: []byte(header), lineLen: lineLen, left: size}
}

func (b *bigMessage) Read(p []byte) (int, error) {
	if len(b.header) > 0 {
		n := copy(p, b.header)
		b.header = b.header[n:]
		return n, nil
	}
	if b.left <= 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && b.left > 0 {
		switch b.pos {
		case b.lineLen:
			p[n] = '\r'
		case b.lineLen + 1:
			p[n] = '\n'
		default:
			p[n] = 'x'
		}
		n++
		b.left--
		b.pos = (b.pos + 1) % (b.lineLen + 2)
	}
	return n, nil
}

func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// The memory a body structure costs does not grow with the message: a
// 64 MiB text part, a 64 MiB attachment line and a 16 MiB header line are
// all parsed in a few MiB of allocations in all.
func TestBodyStructureMemoryIsBounded(t *testing.T) {
	const size = 64 << 20
	const bound = 8 << 20
	cases := []struct {
		name   string
		header string
		line   int
	}{
		{"text", "Subject: big\r\nContent-Type: text/plain\r\n\r\n", 76},
		{"one long line", "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: application/octet-stream\r\n\r\n", size},
		{"header line", "Subject: ", 16 << 20},
	}
	for _, c := range cases {
		var count int64
		n := allocated(func() {
			cr := &countReader{r: newBigMessage(c.header, c.line, size)}
			readBodyStructure(cr)
			count = cr.n
		})
		if count < size {
			t.Errorf("%s: parser read %d bytes of %d", c.name, count, size)
		}
		if n > bound {
			t.Errorf("%s: parsing a %d MiB message allocated %d MiB (bound %d MiB)", c.name, size>>20, n>>20, bound>>20)
		}
	}
}

// A header line past the bound stops the header there; the part's size
// still counts every byte.
func TestBodyStructureLongHeaderLine(t *testing.T) {
	msg := "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nX-Long: " + strings.Repeat("y", maxHeaderLine+10) +
		"\r\n\r\nbody\r\n--B--\r\n"
	_, bs := readBodyStructure(strings.NewReader(msg))
	if bs == nil {
		t.Fatal("no body structure")
	}
}

// Storing a large message through Append costs memory independent of its
// size, on the path every APPEND and delivery takes.
func TestAppendLargeMessageMemory(t *testing.T) {
	const size = 48 << 20
	s, err := Open(Options{Dir: t.TempDir(), MaxMessageBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustCreate(t, s, 1, 1, 0)
	var m Message
	n := allocated(func() {
		m, err = s.Append(context.Background(), AppendRequest{Mailbox: 1,
			Body: newBigMessage("Subject: big\r\nContent-Type: text/plain\r\n\r\n", 76, size)})
	})
	if err != nil {
		t.Fatal(err)
	}
	if n > 16<<20 {
		t.Errorf("appending a %d MiB message allocated %d MiB", size>>20, n>>20)
	}
	bs, err := s.BodyStructure(m.GUID, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := bs.MediaType(); got != "text/plain" {
		t.Errorf("media type %q", got)
	}
}
