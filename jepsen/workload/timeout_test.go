package workload

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/rookery-mail/rookery/jepsen/history"
)

// stuckLMTP is an LMTP server that takes a message and never answers for it.
type stuckLMTP struct{ release chan struct{} }

func (b *stuckLMTP) NewSession(*smtp.Conn) (smtp.Session, error) { return &stuckSession{b}, nil }

type stuckSession struct{ b *stuckLMTP }

func (s *stuckSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *stuckSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *stuckSession) Data(r io.Reader) error {
	io.Copy(io.Discard, r)
	<-s.b.release
	return nil
}
func (s *stuckSession) Reset()        {}
func (s *stuckSession) Logout() error { return nil }

// TestDeliverEndsAtItsTimeout: a delivery whose answer never comes is
// recorded as info once the operation's timeout has passed, however long
// the LMTP client library's own timeouts (minutes) would have waited.
func TestDeliverEndsAtItsTimeout(t *testing.T) {
	b := &stuckLMTP{release: make(chan struct{})}
	srv := smtp.NewServer(b)
	srv.LMTP = true
	srv.Domain = "stuck.test"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { close(b.release); srv.Close() })

	rec := history.NewRecorder()
	env := NewEnv([]Node{{Name: "n1", LMTP: ln.Addr().String()}}, "", rec, 0, 1, slog.New(slog.NewTextHandler(io.Discard, nil)))
	env.Timeout = 200 * time.Millisecond
	ctx := context.Background()
	lc, err := dialLMTP(ctx, env, env.Nodes[0])
	if err != nil {
		t.Fatal(err)
	}
	defer lc.conn.Close()
	if deliver(ctx, env, lc, "u", "<stuck@jepsen.rookery.test>") {
		t.Fatal("a delivery without an answer left its connection usable")
	}
	h := rec.History()
	if len(h) != 1 || h[0].F != history.FDeliver || h[0].Outcome != history.Info {
		t.Fatalf("history %+v, want one deliver with outcome info", h)
	}
}

// TestIMAPCommandEndsWithTheRun: a command whose answer never comes ends
// when the run's context does, whatever read deadline the IMAP client
// library sets for itself.
func TestIMAPCommandEndsWithTheRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("* OK ready\r\n")) // then silence
		accepted <- c
	}()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := dialIMAP(ctx, Node{Name: "n1", IMAP: ln.Addr().String()}, "u", "p", time.Hour)
		errc <- err
	}()
	c := <-accepted
	defer c.Close()
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("LOGIN without an answer succeeded")
	}
}
