package lmtpd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
)

const backendID = "b1"

// env is a real single-voter directory, a store on disk and the LMTP
// server over them, listening on loopback.
type env struct {
	t     testing.TB
	dir   *directory.Node
	store *spool.Store
	srv   *Server
	addr  string
}

func testLogger() *slog.Logger {
	if os.Getenv("ROOKERY_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newEnv(t testing.TB, maxBytes int64) *env {
	t.Helper()
	dc := directory.Default()
	dc.NodeID = "d1"
	dc.DataDir = t.TempDir()
	dc.Roles = []string{directory.RoleDirectory}
	dc.BootstrapExpect = 1
	dc.RaftAddr, dc.APIAddr, dc.GossipAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	dc.ClusterSecret = "test-secret"
	dc.HeartbeatTimeout, dc.ElectionTimeout, dc.LeaderLeaseTimeout = 300*time.Millisecond, 300*time.Millisecond, 150*time.Millisecond
	dc.CommitTimeout = 5 * time.Millisecond
	dc.ReconcileInterval = 200 * time.Millisecond
	dc.GossipProfile = "local"
	dc.Logger = testLogger()
	node, err := directory.Open(dc)
	if err != nil {
		t.Fatalf("open directory: %v", err)
	}
	t.Cleanup(func() { node.Close() })
	waitFor(t, 20*time.Second, "directory leader", node.IsLeader)

	store, err := spool.Open(spool.Options{Dir: t.TempDir(), MaxMessageBytes: maxBytes, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })

	cfg := Default()
	cfg.BackendID = backendID
	cfg.Directory = node
	cfg.Store = store
	cfg.Logger = testLogger()
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	e := &env{t: t, dir: node, store: store, srv: srv, addr: l.Addr().String()}
	e.apply(fsm.BackendRegister{ID: backendID, LMTPAddr: e.addr, Weight: 1, At: time.Now().UnixNano()})
	e.apply(fsm.BackendRegister{ID: "b2", LMTPAddr: "127.0.0.1:1", Weight: 1, At: time.Now().UnixNano()})
	return e
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) apply(cmd fsm.Command) fsm.Result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := e.dir.Apply(ctx, cmd)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		e.t.Fatalf("apply %T: %v", cmd, err)
	}
	return res
}

// addUser adds user with an INBOX on backend.
func (e *env) addUser(user, backend string) *fsm.Mailbox {
	e.apply(fsm.UserAdd{Name: user, PasswordHash: "x", At: time.Now().UnixNano()})
	return e.addMailbox(fsm.Inbox(user), backend)
}

// addMailbox goes through the mailbox life cycle: reserve, create in the
// spool when it is this backend's, activate.
func (e *env) addMailbox(name, backend string) *fsm.Mailbox {
	res := e.apply(fsm.Reserve{Name: name, Backend: backend, Reservation: "r-" + name, At: time.Now().UnixNano()})
	res = e.apply(fsm.Activate{Name: name, Reservation: "r-" + name})
	mb := res.Mailbox
	if backend == backendID {
		meta := spool.MailboxMeta{ID: mb.ID, UIDValidity: mb.UIDValidity, Stride: mb.Stride, Slot: mb.Primary.Slot}
		if err := e.store.CreateMailbox(meta); err != nil {
			e.t.Fatalf("create mailbox %s: %v", name, err)
		}
	}
	return mb
}

func (e *env) messages(mb *fsm.Mailbox) []spool.Message {
	e.t.Helper()
	ms, err := e.store.Messages(mb.ID)
	if err != nil {
		e.t.Fatalf("messages of %s: %v", mb.Name, err)
	}
	return ms
}

func testMessage(n int) string {
	return fmt.Sprintf("From: sender@example.org\r\nTo: rcpt@example.org\r\nSubject: lmtp %d\r\n\r\nHello %d.\r\n", n, n)
}
