package smtpstop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// lmtpServer is a go-smtp LMTP server on loopback whose deliveries call
// deliver, inside the Stopper's Enter and Leave.
type lmtpServer struct {
	srv     *smtp.Server
	stop    *Stopper
	addr    string
	ctx     context.Context
	cancel  context.CancelFunc
	served  chan error
	deliver func(ctx context.Context, r io.Reader) error
}

func startLMTP(t *testing.T, deliver func(ctx context.Context, r io.Reader) error) *lmtpServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &lmtpServer{stop: New(), addr: l.Addr().String(), served: make(chan error, 1), deliver: deliver}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{s}, nil }))
	s.srv.LMTP = true
	s.srv.Domain = "localhost"
	go func() { s.served <- s.srv.Serve(s.stop.Listen(l)) }()
	t.Cleanup(func() { s.close(t) })
	return s
}

// close stops the server as the servers of the project do: cancel what
// deliveries wait on, then Stop.
func (s *lmtpServer) close(t *testing.T) {
	s.cancel()
	if err := s.stop.Stop(s.srv); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := <-s.served; err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	s.served <- nil // a second close finds Serve's result again
}

type session struct{ s *lmtpServer }

func (*session) Reset()                               {}
func (*session) Logout() error                        { return nil }
func (*session) Mail(string, *smtp.MailOptions) error { return nil }
func (*session) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (*session) Data(io.Reader) error                 { return errors.New("LMTP only") }
func (ss *session) LMTPData(r io.Reader, st smtp.StatusCollector) error {
	if !ss.s.stop.Enter() {
		return &smtp.SMTPError{Code: 451, Message: "stopping"}
	}
	defer ss.s.stop.Leave()
	return ss.s.deliver(ss.s.ctx, r)
}

// dialTransaction opens a connection and sends LHLO, MAIL and RCPT,
// reading their replies.
func dialTransaction(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := bufio.NewReader(c)
	expect(t, r, "220")
	fmt.Fprintf(c, "LHLO client\r\n")
	for {
		line := expect(t, r, "250")
		if strings.HasPrefix(line, "250 ") {
			break
		}
	}
	fmt.Fprintf(c, "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n")
	expect(t, r, "250")
	expect(t, r, "250")
	return c, r
}

func expect(t *testing.T, r *bufio.Reader, code string) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, code) {
		t.Fatalf("reply %q, %v; want %s", line, err, code)
	}
	return line
}

// A Stop while a BDAT chunk is being read closes the socket under the
// connection's goroutine instead of the connection beside it (go-smtp's
// Close writes the BDAT pipe that goroutine reads, a race the race
// detector reports): the delivery sees its body cut off, and Stop returns
// after it has.
func TestStopDuringBDATChunk(t *testing.T) {
	reading := make(chan struct{})
	var ended atomic.Value
	s := startLMTP(t, func(_ context.Context, r io.Reader) error {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(r, buf); err != nil {
			ended.Store(err)
			return err
		}
		close(reading)
		_, err := io.Copy(io.Discard, r)
		ended.Store(fmt.Errorf("body after the first bytes: %w", err))
		return err
	})
	c, _ := dialTransaction(t, s.addr)
	fmt.Fprintf(c, "BDAT 100000 LAST\r\nhello")
	<-reading
	s.close(t)
	err, _ := ended.Load().(error)
	if err == nil {
		t.Fatal("Stop returned before the delivery reading the chunk ended, or the delivery read a whole body")
	}
}

// Stop returns only when every delivery has: one that is committing
// when the server stops finishes before Stop returns, so nothing works on
// a store its owner closes next.
func TestStopWaitsForDeliveries(t *testing.T) {
	began := make(chan struct{})
	var finished atomic.Bool
	s := startLMTP(t, func(ctx context.Context, r io.Reader) error {
		io.Copy(io.Discard, r)
		close(began)
		<-ctx.Done()                      // stopping: the commit goes on and finishes
		time.Sleep(20 * time.Millisecond) // the commit's fsync
		finished.Store(true)
		return nil
	})
	c, _ := dialTransaction(t, s.addr)
	fmt.Fprintf(c, "DATA\r\n")
	fmt.Fprintf(c, "Subject: x\r\n\r\nbody\r\n.\r\n")
	<-began
	s.close(t)
	if !finished.Load() {
		t.Fatal("Stop returned while a delivery was still running")
	}
}

// A delivery that would begin after Stop has begun is refused, and a
// connection left open by a client is closed by Stop.
func TestStopClosesIdleConnections(t *testing.T) {
	s := startLMTP(t, func(context.Context, io.Reader) error { return nil })
	c, r := dialTransaction(t, s.addr)
	s.close(t)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := r.ReadString('\n'); err == nil {
		t.Fatalf("idle connection after Stop: read %q, want its end", line)
	}
	if s.stop.Enter() {
		t.Fatal("Enter reported true after Stop")
	}
}
