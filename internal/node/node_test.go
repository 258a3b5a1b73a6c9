package node_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/node"
	"github.com/rookery-mail/rookery/internal/testcluster"
	"github.com/rookery-mail/rookery/replication"
)

func TestValidate(t *testing.T) {
	valid := func() node.Config {
		c := node.Default()
		c.NodeID, c.DataDir, c.ClusterSecret = "n1", "/tmp/n1", "0123456789abcdef"
		return c
	}
	for _, tc := range []struct {
		name string
		edit func(*node.Config)
	}{
		{"no node id", func(c *node.Config) { c.NodeID = "" }},
		{"no data dir", func(c *node.Config) { c.DataDir = "" }},
		{"short secret", func(c *node.Config) { c.ClusterSecret = "short" }},
		{"no roles", func(c *node.Config) { c.Roles = nil }},
		{"unknown role", func(c *node.Config) { c.Roles = []string{"mta"} }},
		{"source IP not an IP", func(c *node.Config) { c.SourceIP = "eth0" }},
		{"advertise without port", func(c *node.Config) { c.Backend.IMAPAdvertise = "192.0.2.1" }},
	} {
		c := valid()
		tc.edit(&c)
		if err := c.Validate(); !errors.Is(err, node.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", tc.name, err)
		}
	}
	c := valid()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Backend.ID != "n1" {
		t.Errorf("backend id %q, want the node id", c.Backend.ID)
	}
}

// New refuses TLS material that does not cover the config, before it
// opens anything.
func TestNewChecksTLS(t *testing.T) {
	c := node.Default()
	c.NodeID, c.DataDir, c.ClusterSecret = "n1", t.TempDir(), "0123456789abcdef"
	c.Frontend.IMAPSAddr = "127.0.0.1:0"
	if _, err := node.New(c); !errors.Is(err, node.ErrInvalidConfig) {
		t.Fatalf("IMAPS without a certificate: %v, want ErrInvalidConfig", err)
	}
	c.Frontend.IMAPSAddr = ""
	c.TLS.Server = &tls.Config{}
	if _, err := node.New(c); !errors.Is(err, node.ErrInvalidConfig) {
		t.Fatalf("server TLS without client TLS: %v, want ErrInvalidConfig", err)
	}
}

// A test cluster's nodes are the production assembly: with node TLS, a
// client logs in over implicit TLS, RENAME ... SERVER moves a mailbox
// through the frontend's Mover over the nodes' mutual TLS, LMTP delivers
// through the frontend to a backend, and the frontend's Observer counts the
// commands on its admin listener.
func TestTLSClusterMovesAndCounts(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1, TLS: true})
	c.AddUser("alice", 0)
	c.Create(0, "user/alice/Archive")
	f := c.Frontends[0]

	conn, err := tls.Dial("tcp", f.IMAPSAddr, &tls.Config{RootCAs: c.CA, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s := newLineConn(t, conn)
	s.expect("", "* OK")
	s.expect("a LOGIN alice "+testcluster.Password, "a OK")
	s.expect("b RENAME Archive Archive b2", "b OK")
	v, err := f.Node.Read(testcluster.Ctx(t), directory.Synced)
	if err != nil {
		t.Fatal(err)
	}
	if mb, ok := v.Mailbox("user/alice/Archive"); !ok || mb.Primary.Backend != "b2" {
		t.Fatalf("Archive after the move: %+v, want on b2", mb)
	}

	lc, err := net.Dial("tcp", f.LMTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	l := newLineConn(t, lc)
	l.expect("", "220")
	l.expect("LHLO test.example", "250 ")
	l.expect("MAIL FROM:<bob@example.org>", "250")
	l.expect("RCPT TO:<alice@example.org>", "250")
	l.expect("DATA", "354")
	l.expect("Subject: moved\r\n\r\nhello\r\n.", "250")
	if n := c.MessageCount("user/alice/INBOX"); n != 1 {
		t.Fatalf("INBOX holds %d messages, want 1", n)
	}

	resp, err := http.Get("http://" + f.Host.Addr(node.ListenAdmin) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToUpper(string(body)), `COMMAND="RENAME"`) {
		t.Fatalf("the frontend's metrics count no RENAME:\n%s", body)
	}
}

// lineConn speaks a line protocol (IMAP, LMTP) for a test.
type lineConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func newLineConn(t *testing.T, conn net.Conn) *lineConn {
	conn.SetDeadline(time.Now().Add(time.Minute))
	return &lineConn{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// expect sends line (none when empty) and reads lines until one starts
// with prefix, failing at a tagged or final reply that does not.
func (l *lineConn) expect(line, prefix string) {
	l.t.Helper()
	if line != "" {
		fmt.Fprintf(l.conn, "%s\r\n", line)
	}
	for {
		got, err := l.r.ReadString('\n')
		if err != nil {
			l.t.Fatalf("after %q: %v", line, err)
		}
		if strings.HasPrefix(got, prefix) {
			return
		}
		if tag, _, _ := strings.Cut(prefix, " "); strings.HasPrefix(got, tag+" ") && tag != "*" {
			l.t.Fatalf("%q: %q, want %s", line, got, prefix)
		}
	}
}

// A TLS cluster's cluster API is https: a call that fails names the
// https:// URL it went to, and the error still unwraps to the sentinel its
// code names, on the directory's routes and on a backend's.
func TestTLSClusterAPIErrorsNameHTTPS(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, TLS: true})
	h := c.Backends[0].Host
	addr := h.Directory().APIAddr()
	cl := directory.NewClient(addr, testcluster.Secret).WithTLS(h.Config().TLS.Client)
	ctx := testcluster.Ctx(t)

	_, err := cl.Mailbox(ctx, "user/nobody/INBOX")
	if !errors.Is(err, fsm.ErrNoMailbox) || !strings.Contains(err.Error(), "https://"+addr+"/v1/mailboxes/") {
		t.Fatalf("directory lookup of a missing mailbox: %v", err)
	}
	_, err = replication.MoveRemote(ctx, cl.API(), addr, replication.MoveRequest{Name: "user/nobody/INBOX"}, nil)
	if !errors.Is(err, fsm.ErrNoMailbox) || !strings.Contains(err.Error(), "https://"+addr+"/v1/backend/moves") {
		t.Fatalf("move of a missing mailbox: %v", err)
	}
	if strings.Contains(err.Error(), "http://") {
		t.Fatalf("a TLS cluster's error names http://: %v", err)
	}
}
