package imapd

import (
	"crypto/tls"
	"net"
	"strconv"
	"sync"

	"github.com/emersion/go-imap/v2"
)

// go-imap's FetchResponseWriter writes a partial BINARY item as
// `BINARY[1] ~{5}`, without the origin that RFC 3516 section 4.2 (like
// BODY[]<origin> in RFC 3501 section 7.4.2) asks for: `BINARY[1]<0> ~{5}`.
// Its encoder is out of the session's reach, so originConn, between
// go-imap and the connection, adds the origin. It does nothing unless a
// FETCH asked for a partial BINARY item: the session arms it with one
// entry per BINARY item of a message before writing that message's
// response and disarms it after, when go-imap has flushed the response
// (each FETCH response ends with a flush). While armed, it follows the
// response's framing (quoted strings, literals) and rewrites only an item
// name in the open, never a message's bytes.

// originListener hands go-imap connections wrapped in an originConn. go-imap
// tells a TLS connection by its type (*tls.Conn), for LOGIN and STARTTLS;
// so a TLS connection is wrapped only when its type changes neither:
// plaintext logins allowed anyway and no STARTTLS offered, as on a
// backend's node listener.
type originListener struct {
	net.Listener
	wrapTLS bool
}

func (l originListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if _, isTLS := c.(*tls.Conn); isTLS && !l.wrapTLS {
		return c, nil
	}
	return &originConn{Conn: c}, nil
}

// originConn inserts the origins of partial BINARY items into the FETCH
// responses written through it.
type originConn struct {
	net.Conn
	mu      sync.Mutex
	armed   bool
	origins []string // per BINARY item to come: "" or "<n>"
	sc      originScanner
}

// binaryOrigins returns the origins of options' BINARY items in the
// order go-imap writes them, or nil when none is partial.
func binaryOrigins(options *imap.FetchOptions) []string {
	var out []string
	partial := false
	for _, bs := range options.BinarySection {
		o := ""
		if bs.Partial != nil {
			o = "<" + strconv.FormatInt(bs.Partial.Offset, 10) + ">"
			partial = true
		}
		out = append(out, o)
	}
	if !partial {
		return nil
	}
	return out
}

// arm makes the next FETCH response written carry origins, one per
// BINARY item. The stream is at a response boundary.
func (c *originConn) arm(origins []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed = true
	c.origins = append(c.origins[:0], origins...)
	c.sc = originScanner{}
}

// disarm ends the rewriting once the response has been flushed.
func (c *originConn) disarm() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed = false
	c.origins = c.origins[:0]
}

func (c *originConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.armed && len(c.sc.hold) == 0 {
		return c.Conn.Write(p)
	}
	out := c.sc.rewrite(p, &c.origins)
	if len(out) > 0 {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// originScanner follows a response's framing. hold keeps the bytes of
// what may be a `BINARY[section] ~` item name until it is known to be one.
type originScanner struct {
	state  scanState
	litLen int64
	hold   []byte
	out    []byte
}

type scanState int

const (
	scanText scanState = iota
	scanQuoted
	scanQuotedEscape
	scanLitSize // after "{"
	scanLitCR   // after "}"
	scanLitLF   // after "}\r"
	scanLitData
)

// binaryPrefix is what a held item name starts with.
const binaryPrefix = "BINARY["

// rewrite returns p with origins inserted; what may still become an item
// name stays held for the next call.
func (sc *originScanner) rewrite(p []byte, origins *[]string) []byte {
	sc.out = sc.out[:0]
	for i := 0; i < len(p); i++ {
		b := p[i]
		if sc.state == scanLitData {
			n := min(int64(len(p)-i), sc.litLen)
			sc.out = append(sc.out, p[i:i+int(n)]...)
			sc.litLen -= n
			i += int(n) - 1
			if sc.litLen == 0 {
				sc.state = scanText
			}
			continue
		}
		if len(sc.hold) > 0 {
			if sc.extendHold(b, origins) {
				continue
			}
			// Not an item name: let it go and read b afresh.
			sc.out = append(sc.out, sc.hold...)
			sc.hold = sc.hold[:0]
		}
		sc.step(b)
	}
	return sc.out
}

// step reads one byte outside a held name.
func (sc *originScanner) step(b byte) {
	switch sc.state {
	case scanText:
		switch b {
		case '"':
			sc.state = scanQuoted
		case '{':
			sc.state, sc.litLen = scanLitSize, 0
		case 'B':
			sc.hold = append(sc.hold, b)
			return
		}
	case scanQuoted:
		switch b {
		case '\\':
			sc.state = scanQuotedEscape
		case '"', '\r', '\n':
			sc.state = scanText
		}
	case scanQuotedEscape:
		sc.state = scanQuoted
	case scanLitSize:
		switch {
		case b >= '0' && b <= '9':
			sc.litLen = sc.litLen*10 + int64(b-'0')
		case b == '}':
			sc.state = scanLitCR
		default:
			sc.state = scanText
		}
	case scanLitCR:
		sc.state = scanText
		if b == '\r' {
			sc.state = scanLitLF
		}
	case scanLitLF:
		sc.state = scanText
		if b == '\n' && sc.litLen > 0 {
			sc.state = scanLitData
		}
	}
	sc.out = append(sc.out, b)
}

// extendHold adds b to the held name, and at `BINARY[section] ~{` writes
// it out with the next origin. It reports false when b shows that the
// held bytes are no item name.
func (sc *originScanner) extendHold(b byte, origins *[]string) bool {
	h := sc.hold
	switch {
	case len(h) < len(binaryPrefix):
		if b != binaryPrefix[len(h)] {
			return false
		}
	case h[len(h)-1] == '~':
		if b != '{' || len(*origins) == 0 {
			return false
		}
		close := len(h) - 2 // h ends with "] ~"
		sc.out = append(sc.out, h[:close]...)
		sc.out = append(sc.out, (*origins)[0]...)
		sc.out = append(sc.out, h[close:]...)
		*origins = (*origins)[1:]
		sc.hold = sc.hold[:0]
		sc.state, sc.litLen = scanLitSize, 0
		sc.out = append(sc.out, b)
		return true
	case h[len(h)-1] == ' ':
		if b != '~' {
			return false
		}
	case h[len(h)-1] == ']':
		if b != ' ' {
			return false
		}
	default: // in the section
		if b != ']' && b != '.' && (b < '0' || b > '9') {
			return false
		}
	}
	sc.hold = append(sc.hold, b)
	return true
}
