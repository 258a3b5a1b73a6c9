package imapfront

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"golang.org/x/crypto/bcrypt"
)

// localDirectory is a one-node directory over a real FSM, for tests of the
// frontend on its own: every read is as fresh as it gets.
type localDirectory struct {
	mu    sync.Mutex
	f     *fsm.FSM
	index uint64
}

var _ directory.Directory = (*localDirectory)(nil)

func newLocalDirectory() *localDirectory { return &localDirectory{f: fsm.New()} }

// Read returns the latest view at every level: nothing is staler.
func (d *localDirectory) Read(context.Context, directory.Level) (*fsm.View, error) {
	return d.f.View(), nil
}

func (d *localDirectory) Apply(_ context.Context, c fsm.Command) (fsm.Result, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.index++
	return d.f.ApplyCommand(d.index, c), nil
}

func (d *localDirectory) WaitApplied(ctx context.Context, index uint64) error {
	return d.f.WaitApplied(ctx, index)
}

// readAt is a read of dir at level that must succeed.
func readAt(t testing.TB, dir directory.Directory, level directory.Level) *fsm.View {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := dir.Read(ctx, level)
	if err != nil {
		t.Fatalf("%s read of the directory: %v", level, err)
	}
	return v
}

func (d *localDirectory) mustApply(t testing.TB, c fsm.Command) fsm.Result {
	t.Helper()
	res, _ := d.Apply(context.Background(), c)
	if res.Err != nil {
		t.Fatalf("apply %T: %v", c, res.Err)
	}
	return res
}

func (d *localDirectory) addUser(t testing.TB, name, pw string) {
	t.Helper()
	h, err := auth.HashPasswordCost(pw, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	d.mustApply(t, fsm.UserAdd{Name: name, PasswordHash: h, At: 1})
}

// testLogger discards logs unless ROOKERY_TEST_LOG is set.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("ROOKERY_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// countingListener counts the bytes the server reads from its clients.
type countingListener struct {
	net.Listener
	read atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: &l.read}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// startFrontend serves cfg on a loopback port until the test ends.
func startFrontend(t testing.TB, cfg Config) (addr string, ln *countingListener) {
	t.Helper()
	addr, ln, _ = startServer(t, cfg)
	return addr, ln
}

// startServer is startFrontend that also returns the Server.
func startServer(t testing.TB, cfg Config) (addr string, ln *countingListener, srv *Server) {
	t.Helper()
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln = &countingListener{Listener: l}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != ErrClosed {
			t.Errorf("Serve returned %v", err)
		}
	})
	return l.Addr().String(), ln, srv
}

func testConfig(t testing.TB, dir directory.Directory) Config {
	cfg := Default()
	cfg.Directory = dir
	cfg.ClusterSecret = "cluster-secret"
	cfg.Logger = testLogger(t)
	cfg.AllowPlaintextLogin = true
	// Failed logins still delay the next ones, by little.
	cfg.LoginPenaltyBase, cfg.LoginPenaltyMax = time.Millisecond, 20*time.Millisecond
	return cfg
}

// rawClient speaks IMAP by hand, for malformed input.
type rawClient struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	rc := &rawClient{t: t, c: c, br: bufio.NewReader(c)}
	if g := rc.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	return rc
}

func (rc *rawClient) send(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

func (rc *rawClient) line() string {
	rc.t.Helper()
	l, err := rc.br.ReadString('\n')
	if err != nil {
		rc.t.Fatalf("read: %v (got %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

// until reads lines up to the one starting with prefix and returns it.
func (rc *rawClient) until(prefix string) string {
	rc.t.Helper()
	for {
		if l := rc.line(); strings.HasPrefix(l, prefix) {
			return l
		}
	}
}
