package lmtp

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// backendConn is one LMTP connection to a backend, spoken with pipelining
// (RFC 2920) and the body in BDAT chunks (RFC 3030): commands and chunks
// are written as soon as the proxy has them and their replies read, in
// order, only when the proxy needs them.
type backendConn struct {
	conn   net.Conn
	r      *textproto.Reader
	w      *bufio.Writer
	ext    map[string]string // the backend's LHLO extensions
	reused bool              // taken from the pool: the backend may have closed it meanwhile
}

// writeBufSize holds a whole chunk of body, so a typical message leaves in
// one write.
const writeBufSize = chunkSize + 4<<10

// dialBackend connects, reads the greeting and says LHLO. A backend that
// cannot pipeline or take chunks is refused: every transaction assumes
// both.
func dialBackend(ctx context.Context, cfg Config, addr string) (*backendConn, error) {
	dial := cfg.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &backendConn{
		conn: conn,
		r:    textproto.NewReader(bufio.NewReader(conn)),
		w:    bufio.NewWriterSize(conn, writeBufSize),
	}
	c.deadline(cfg.BackendTimeout)
	if err := c.hello(cfg.Hostname); err != nil {
		conn.Close()
		return nil, fmt.Errorf("lmtp: greeting %s: %w", addr, err)
	}
	for _, ext := range []string{"PIPELINING", "CHUNKING"} {
		if _, ok := c.ext[ext]; !ok {
			conn.Close()
			return nil, fmt.Errorf("lmtp: backend %s does not offer %s", addr, ext)
		}
	}
	return c, nil
}

func (c *backendConn) hello(hostname string) error {
	if _, _, err := c.r.ReadResponse(220); err != nil {
		return err
	}
	if err := c.line("LHLO " + hostname); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	_, msg, err := c.r.ReadResponse(250)
	if err != nil {
		return err
	}
	c.ext = map[string]string{}
	for _, l := range strings.Split(msg, "\n")[1:] {
		k, v, _ := strings.Cut(l, " ")
		c.ext[strings.ToUpper(k)] = v
	}
	return nil
}

func (c *backendConn) deadline(d time.Duration) { c.conn.SetDeadline(time.Now().Add(d)) }

func (c *backendConn) Close() error { return c.conn.Close() }

// line writes one command into the buffer; flush sends what is buffered.
func (c *backendConn) line(s string) error {
	if strings.ContainsAny(s, "\r\n") {
		return fmt.Errorf("lmtp: line break in command %q", s)
	}
	c.w.WriteString(s)
	_, err := c.w.WriteString("\r\n")
	return err
}

// chunk writes one BDAT command and its data into the buffer.
func (c *backendConn) chunk(p []byte, last bool) error {
	c.w.WriteString("BDAT ")
	c.w.WriteString(strconv.Itoa(len(p)))
	if last {
		c.w.WriteString(" LAST")
	}
	c.w.WriteString("\r\n")
	_, err := c.w.Write(p)
	return err
}

// reply reads one reply. A refusal comes back as an *smtp.SMTPError, so it
// reaches the client as the backend gave it; err is for the connection.
func (c *backendConn) reply() (refusal, err error) {
	code, msg, err := c.r.ReadResponse(0) // 0: any code is a reply
	if err != nil {
		return nil, err
	}
	if code < 400 {
		return nil, nil
	}
	return smtpError(code, msg), nil
}

// smtpError parses an enhanced status code off the reply text, and the
// "<address>" with which an LMTP server starts each recipient's reply to
// DATA.
func smtpError(code int, msg string) *smtp.SMTPError {
	e := &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: msg}
	if first, rest, ok := strings.Cut(msg, " "); ok {
		if ec, ok := parseEnhancedCode(first); ok {
			e.EnhancedCode = ec
			// Each line of a multi-line reply repeats the code (RFC 2034).
			e.Message = strings.ReplaceAll(rest, "\n"+first+" ", "\n")
		}
	}
	if strings.HasPrefix(e.Message, "<") {
		if _, rest, ok := strings.Cut(e.Message, "> "); ok {
			e.Message = rest
		}
	}
	return e
}

func parseEnhancedCode(s string) (smtp.EnhancedCode, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return smtp.EnhancedCode{}, false
	}
	var ec smtp.EnhancedCode
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return smtp.EnhancedCode{}, false
		}
		ec[i] = n
	}
	return ec, true
}

// mailLine is MAIL FROM with the parameters the backend can use: the
// declared size and body type, SMTPUTF8 where the backend offers it, and
// the delivery id as ENVID (RFC 3461) where the backend takes it: a
// backend keys its record of deliveries made on it.
func (c *backendConn) mailLine(from string, opts *smtp.MailOptions, delivery string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "MAIL FROM:<%s>", from)
	if _, ok := c.ext["DSN"]; ok && delivery != "" {
		sb.WriteString(" ENVID=" + delivery)
	}
	if opts == nil {
		return sb.String()
	}
	if _, ok := c.ext["8BITMIME"]; ok && opts.Body == smtp.Body8BitMIME {
		sb.WriteString(" BODY=8BITMIME")
	}
	if _, ok := c.ext["SIZE"]; ok && opts.Size > 0 {
		fmt.Fprintf(&sb, " SIZE=%d", opts.Size)
	}
	if _, ok := c.ext["SMTPUTF8"]; ok && opts.UTF8 {
		sb.WriteString(" SMTPUTF8")
	}
	return sb.String()
}

// deliveryIDPrefix marks the delivery ids a backend honours
// (lmtpd.DeliveryIDPrefix): an MTA's own ENVID never reaches one.
const deliveryIDPrefix = "rk-"

// newDeliveryID names one client transaction towards the backends: 96
// random bits in hex, which is RFC 3461 xtext as it is.
func newDeliveryID() string {
	var b [12]byte
	rand.Read(b[:])
	return deliveryIDPrefix + hex.EncodeToString(b[:])
}
