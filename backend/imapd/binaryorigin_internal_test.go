package imapd

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// TestOriginScanner: origins go into BINARY item names only, whatever
// the chunks the response is written in; a look-alike inside a literal
// or a quoted string is left as it is.
func TestOriginScanner(t *testing.T) {
	in := "* 1 FETCH (UID 2 ENVELOPE (\"BINARY[1] ~{3}\" NIL) BODY[] {14}\r\nBINARY[1] ~{1} BINARY[1] ~{3}\r\nabc BINARY.SIZE[1] 3 BINARY[2.1] ~{0}\r\n)\r\n"
	want := "* 1 FETCH (UID 2 ENVELOPE (\"BINARY[1] ~{3}\" NIL) BODY[] {14}\r\nBINARY[1] ~{1} BINARY[1]<7> ~{3}\r\nabc BINARY.SIZE[1] 3 BINARY[2.1] ~{0}\r\n)\r\n"
	for chunk := 1; chunk <= len(in); chunk++ {
		var out bytes.Buffer
		c := &originConn{Conn: writeConn{&out}}
		c.arm([]string{"<7>", ""})
		for i := 0; i < len(in); i += chunk {
			c.Write([]byte(in[i:min(i+chunk, len(in))]))
		}
		c.disarm()
		if out.String() != want {
			t.Fatalf("chunks of %d:\n got %q\nwant %q", chunk, out.String(), want)
		}
	}
}

type writeConn struct{ w *bytes.Buffer }

func (c writeConn) Write(p []byte) (int, error) { return c.w.Write(p) }

var _ net.Conn = (*originConn)(nil)

func (writeConn) Read([]byte) (int, error)           { return 0, nil }
func (writeConn) Close() error                       { return nil }
func (writeConn) LocalAddr() net.Addr                { return nil }
func (writeConn) RemoteAddr() net.Addr               { return nil }
func (writeConn) SetDeadline(t time.Time) error      { return nil }
func (writeConn) SetReadDeadline(t time.Time) error  { return nil }
func (writeConn) SetWriteDeadline(t time.Time) error { return nil }
