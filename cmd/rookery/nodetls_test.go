package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/clusterapi"
	"github.com/rookery-mail/rookery/internal/node"
	"github.com/rookery-mail/rookery/tlsutil"
)

// tlsCluster is three in-process nodes with every role, configured as
// `rookery dev` configures them: mutual TLS between nodes, encrypted gossip,
// client ports with the node certificate.
type tlsCluster struct {
	dir   string
	cfgs  []Config
	nodes []*node.Node
}

func startTLSCluster(t *testing.T) *tlsCluster {
	t.Helper()
	c := &tlsCluster{dir: t.TempDir()}
	c.cfgs = devConfigs(c.dir, "tls-test-secret-0123456789", 3, 0, 0, 0)
	var join []string
	for i := range c.cfgs {
		cfg := &c.cfgs[i]
		cfg.Directory.RaftAddr, cfg.Directory.APIAddr, cfg.Directory.GossipAddr = freePort(t), freePort(t), freePort(t)
		cfg.Backend.IMAPAddr, cfg.Backend.LMTPAddr = freePort(t), freePort(t)
		cfg.Frontend.IMAPAddr, cfg.Frontend.LMTPAddr = freePort(t), freePort(t)
		cfg.AdminAddr = ""
		join = append(join, cfg.Directory.GossipAddr)
	}
	for i := range c.cfgs {
		c.cfgs[i].Directory.Join = join
	}
	if err := devTLS(c.dir, c.cfgs); err != nil {
		t.Fatal(err)
	}
	c.cfgs[0].Frontend.IMAPSAddr = freePort(t)
	c.cfgs[0].AdminAddr = freePort(t)
	c.cfgs[1].AdminAddr = freePort(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	for _, cfg := range c.cfgs {
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		n, err := newNode(cfg, log.With("node_id", cfg.NodeID))
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, n)
		t.Cleanup(func() { n.Close() })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, n := range c.nodes {
		if err := n.Start(ctx); err != nil {
			t.Fatalf("start %s: %v", n.Config().NodeID, err)
		}
	}
	if err := devDemoUser(ctx, c.nodes[0]); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *tlsCluster) caPool(t *testing.T) *x509.CertPool {
	t.Helper()
	ca, err := tlsutil.LoadCert(filepath.Join(c.dir, "tls", "ca", tlsutil.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool
}

// TestNodeTrafficNeedsCertificate brings up a cluster with node TLS and
// shows that it works for its own nodes and mail clients, and that every
// listener one node offers another (Raft, the cluster API that also
// carries replication, the backend's IMAP and LMTP, gossip) refuses a peer
// without a certificate of the cluster CA: in plaintext, in TLS without a
// client certificate, and in TLS with a certificate of another CA.
func TestNodeTrafficNeedsCertificate(t *testing.T) {
	c := startTLSCluster(t)
	n1 := c.cfgs[0]

	// The cluster itself works across nodes: a delivery through node 2's
	// LMTP reaches the INBOX on node 1's backend, which replicates it, read
	// back over node 1's implicit-TLS port.
	waitUntil(t, "node 2 knows the demo INBOX as active", func() bool {
		mb, ok := localView(t, c.nodes[1]).Mailbox(fsm.Inbox(devUser))
		return ok && mb.State == fsm.Active
	})
	deliverDemo(t, c.cfgs[1].Frontend.LMTPAddr)
	readDemoOverIMAPS(t, n1.Frontend.IMAPSAddr, c.caPool(t))
	checkMetrics(t, n1.AdminAddr,
		`rookery_connections_total{listener="imaps",node_id="node1"} 1`,
		`rookery_directory_applies_total{node_id="node1",result="ok",type="UserAdd"} 1`,
		`rookery_directory_synced_reads_total{node_id="node1",result="ok"}`,
		`rookery_spool_mailboxes{node_id="node1"} 1`,
		`rookery_imap_commands_total{command="LOGIN",node_id="node1",result="ok"} 1`,
		`rookery_imap_commands_total{command="SELECT",node_id="node1",result="ok"} 1`,
		`rookery_spool_messages{node_id="node1"} 1`,
		`rookery_replication_lag_seconds{node_id="node1",replica="node`)
	checkMetrics(t, c.cfgs[1].AdminAddr,
		`rookery_connections_total{listener="lmtp",node_id="node2"} 1`,
		`rookery_lmtp_commands_total{command="RCPT",node_id="node2",result="ok"} 1`,
		`rookery_lmtp_commands_total{command="DATA",node_id="node2",result="ok"} 1`)

	valid, err := tlsutil.MutualClientConfig(c.cfgs[1].TLS.NodeDir)
	if err != nil {
		t.Fatal(err)
	}
	noCert := &tls.Config{RootCAs: c.caPool(t), MinVersion: tls.VersionTLS13}
	rogue := rogueClientConfig(t, c.caPool(t))

	probes := []struct {
		name string
		addr string
		try  func(dial dialFunc) error
	}{
		{"raft", n1.Directory.RaftAddr, raftProbe},
		{"cluster API", n1.Directory.APIAddr, apiProbe(n1.ClusterSecret)},
		{"backend IMAP", n1.Backend.IMAPAddr, greetingProbe("* OK")},
		{"backend LMTP", n1.Backend.LMTPAddr, greetingProbe("220 ")},
	}
	for _, p := range probes {
		// The control: the same probe with a node's certificate succeeds,
		// so a refusal below is the certificate's doing.
		if err := p.try(tlsDial(p.addr, valid)); err != nil {
			t.Errorf("%s with a node certificate: %v", p.name, err)
		}
		for _, peer := range []struct {
			what string
			dial dialFunc
		}{
			{"plaintext", plainDial(p.addr)},
			{"TLS without a client certificate", tlsDial(p.addr, noCert)},
			{"a certificate of another CA", tlsDial(p.addr, rogue)},
		} {
			if err := p.try(peer.dial); err == nil {
				t.Errorf("%s accepted %s", p.name, peer.what)
			} else {
				t.Logf("%s refused %s: %v", p.name, peer.what, err)
			}
		}
	}

	// Gossip: a memberlist without the key, or with another, learns no
	// member of the cluster.
	for _, key := range [][]byte{nil, []byte("another-key-0123456789abcdefghij")} {
		if members, err := intruderJoin(t, n1.Directory.GossipAddr, key); err == nil || members > 1 {
			t.Errorf("gossip with key %q: joined, sees %d members (err %v)", key, members, err)
		} else {
			t.Logf("gossip with key %q refused: %v", key, err)
		}
	}
}

type dialFunc func() (net.Conn, error)

// plainDial connects without TLS and speaks first, as a plaintext client
// of any of these protocols might: a TLS listener reads that as a broken
// handshake and hangs up rather than leaving the probe to time out.
func plainDial(addr string) dialFunc {
	return func() (net.Conn, error) {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return nil, err
		}
		if _, err := io.WriteString(conn, "HELO probe\r\n"); err != nil {
			conn.Close()
			return nil, err
		}
		return conn, nil
	}
}

func tlsDial(addr string, cfg *tls.Config) dialFunc {
	return func() (net.Conn, error) {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
		return d.Dial("tcp", addr)
	}
}

// greetingProbe reads the first line a server sends and wants it to start
// with prefix: a backend that refused the peer sends nothing readable.
func greetingProbe(prefix string) func(dialFunc) error {
	return func(dial dialFunc) error {
		conn, err := dial()
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, prefix) {
			return fmt.Errorf("greeting %q", line)
		}
		return nil
	}
}

// apiProbe asks for the node's status, with the cluster secret: only the
// certificate stands between the caller and the answer.
func apiProbe(secret string) func(dialFunc) error {
	return func(dial dialFunc) error {
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: func(context.Context, string, string) (net.Conn, error) { return dial() },
		}}
		req, _ := http.NewRequest(http.MethodGet, "http://node/v1/status", nil)
		req.Header.Set("Authorization", clusterapi.Bearer(secret))
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	}
}

// raftProbe sends a vote request for a term long past through a Raft
// network transport over dial: a node answers it (declining) only when
// the connection is one it accepts.
func raftProbe(dial dialFunc) error {
	trans := raft.NewNetworkTransport(probeStream{dial: dial}, 1, 10*time.Second, io.Discard)
	defer trans.Close()
	var resp raft.RequestVoteResponse
	req := &raft.RequestVoteRequest{
		RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("probe"), Addr: []byte("probe")},
		Term:      0,
	}
	return trans.RequestVote("node1", "node1", req, &resp)
}

// probeStream is a raft.StreamLayer that only dials, with a fixed dial.
type probeStream struct{ dial dialFunc }

func (s probeStream) Dial(raft.ServerAddress, time.Duration) (net.Conn, error) { return s.dial() }
func (probeStream) Accept() (net.Conn, error)                                  { return nil, net.ErrClosed }
func (probeStream) Close() error                                               { return nil }
func (probeStream) Addr() net.Addr                                             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// rogueClientConfig presents a certificate that another CA signed, while
// trusting the cluster's CA for the server: a stranger who copied the
// cluster's public CA certificate.
func rogueClientConfig(t *testing.T, clusterCA *x509.CertPool) *tls.Config {
	t.Helper()
	dir := t.TempDir()
	if _, err := tlsutil.InitCA(filepath.Join(dir, "ca")); err != nil {
		t.Fatal(err)
	}
	if _, err := tlsutil.IssueNode(filepath.Join(dir, "ca"), "node9", []string{"127.0.0.1"}, filepath.Join(dir, "node9")); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "node9", tlsutil.NodeCertFile), filepath.Join(dir, "node9", tlsutil.NodeKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{RootCAs: clusterCA, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
}

// intruderJoin starts a memberlist with key (nil: none) and joins addr; it
// returns how many members the intruder sees afterwards.
func intruderJoin(t *testing.T, addr string, key []byte) (int, error) {
	t.Helper()
	mc := memberlist.DefaultLocalConfig()
	mc.Name = "intruder"
	mc.BindAddr = "127.0.0.1"
	mc.BindPort = 0
	mc.SecretKey = key
	mc.LogOutput = io.Discard
	ml, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	defer ml.Shutdown()
	_, err = ml.Join([]string{addr})
	return ml.NumMembers(), err
}

func deliverDemo(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cl := smtp.NewClientLMTP(conn)
	defer cl.Close()
	if err := cl.Hello("tls-test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := cl.Extension("STARTTLS"); !ok {
		t.Error("the frontend's LMTP does not offer STARTTLS")
	}
	msg := "From: a@example.org\r\nTo: demo@localhost\r\nSubject: over TLS\r\nMessage-ID: <tls-1@example.org>\r\n\r\nhello\r\n"
	if err := cl.SendMail("a@example.org", []string{"demo@localhost"}, strings.NewReader(msg)); err != nil {
		t.Fatalf("deliver: %v", err)
	}
}

func readDemoOverIMAPS(t *testing.T, addr string, pool *x509.CertPool) {
	t.Helper()
	cl, err := imapclient.DialTLS(addr, &imapclient.Options{TLSConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Login(devUser, devPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := cl.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if data.NumMessages != 1 {
		t.Fatalf("INBOX holds %d messages over IMAPS, want the 1 delivered", data.NumMessages)
	}
	if err := cl.Logout().Wait(); err != nil && !errors.Is(err, io.EOF) {
		t.Logf("logout: %v", err)
	}
}

// checkMetrics scrapes the node's /metrics and wants every line prefix.
func checkMetrics(t *testing.T, adminAddr string, want ...string) {
	t.Helper()
	resp, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		found := false
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, w) {
				found = true
			}
		}
		if !found {
			t.Errorf("/metrics lacks %s", w)
		}
	}
}
