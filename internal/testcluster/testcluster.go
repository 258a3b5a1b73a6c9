// Package testcluster runs a whole Rookery cluster in one test process on
// loopback: three directory voters, backends (each a directory non-voter
// with a spool and the backend role) and frontends (each a non-voter with
// the IMAP and LMTP proxies). Every node is assembled by internal/node as
// in production, with the Mover, the metrics Observer, an admin listener
// and, when asked, node TLS. Everything is real: Raft on disk, TCP
// listeners, fsync. Backends can be stopped and started again from their
// data, on the same addresses.
package testcluster

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/backend"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/imapfront"
	"github.com/rookery-mail/rookery/internal/freeport"
	"github.com/rookery-mail/rookery/internal/node"
	"github.com/rookery-mail/rookery/lmtp"
	"github.com/rookery-mail/rookery/spool"
)

// Secret is the cluster secret of every test cluster.
const Secret = "testcluster-secret-0123456789"

// Password is the password of every user AddUser adds.
const Password = "secret"

type Options struct {
	Backends  int
	Frontends int
	// ReplicationFactor is the backends' copies per mailbox; 0 means 1
	// (no replicas), so that tests of other subjects stay unreplicated.
	ReplicationFactor int
	// TLS runs the cluster with node TLS, as `rookery dev` does: mutual
	// TLS between nodes with a CA made for the cluster (Cluster.CA),
	// encrypted gossip, and a certificate of that CA on the frontends'
	// client ports, with STARTTLS and implicit TLS (Frontend.IMAPSAddr).
	TLS bool
	// RestoreAfter is the backends' replication.Config.RestoreAfter; 0
	// keeps the default, which no test waits out.
	RestoreAfter time.Duration
	// GatherInterval is the backends' rebalancer interval; 0 is off.
	GatherInterval time.Duration
	// QuotaCacheFor is the backends' backend.Config.QuotaCacheFor: 0
	// keeps the default (2 s), negative asks other backends at every
	// write, for a test that needs exact quota refusals.
	QuotaCacheFor time.Duration
	// Accounts is every node's password checking (LDAP, the login cache).
	Accounts node.AccountsConfig
	// Combined gives every backend's node the frontend role too, as a
	// site that runs every role on each node (and `rookery dev`) does;
	// Frontends are then those nodes' frontends, and Options.Frontends
	// is ignored.
	Combined bool
}

type Cluster struct {
	T         testing.TB
	Voters    []*directory.Node
	Backends  []*Backend
	Frontends []*Frontend
	// VoterHosts are the whole nodes of Voters, in the same order.
	VoterHosts []*node.Node
	// CA holds the cluster CA's certificate when Options.TLS is set.
	CA   *x509.CertPool
	log  *slog.Logger
	opts Options
	tls  *clusterTLS
}

// Backend is one backend node. Stop and Start keep its data and addresses.
type Backend struct {
	ID       string
	IMAPAddr string
	LMTPAddr string
	POP3Addr string
	Node     *directory.Node
	Store    *spool.Store
	Role     *backend.Backend
	// Host is the whole node the backend runs in, as internal/node
	// assembles it.
	Host *node.Node

	c   *Cluster
	cfg node.Config
	// Replication is the backend's replication transport, which tests
	// may cut (see Partition).
	Replication *Link
}

// Frontend is one frontend node with its IMAP and LMTP proxies.
type Frontend struct {
	Node     *directory.Node
	IMAPAddr string
	LMTPAddr string
	IMAP     *imapfront.Server
	LMTP     *lmtp.Server
	// Host is the whole node the frontend runs in.
	Host *node.Node
	// IMAPSAddr serves implicit TLS when Options.TLS is set.
	IMAPSAddr string
	// POP3Addr serves POP3 (with STLS when Options.TLS is set), POP3SAddr
	// implicit TLS when Options.TLS is set.
	POP3Addr  string
	POP3SAddr string
}

// Logger discards logs unless ROOKERY_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("ROOKERY_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Start brings up a cluster and stops it when the test ends. Every node
// is assembled by internal/node as in production; only the timings, the
// ports and the data directories differ.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	c := &Cluster{T: t, log: Logger(), opts: o}
	if c.opts.ReplicationFactor == 0 {
		c.opts.ReplicationFactor = 1
	}
	if o.TLS {
		c.tls = newClusterTLS(t)
		c.CA = c.tls.pool
	}
	for i := 1; i <= 3; i++ {
		cfg := c.nodeConfig(fmt.Sprintf("v%d", i), node.RoleDirectory)
		cfg.Directory.BootstrapExpect = 3
		h := c.open(cfg)
		c.VoterHosts = append(c.VoterHosts, h)
		c.Voters = append(c.Voters, h.Directory())
	}
	WaitFor(t, "a leader", func() bool { return c.Voters[0].Status().LeaderID != "" })
	for _, h := range c.VoterHosts {
		c.start(h)
	}
	for i := 1; i <= o.Backends; i++ {
		b := &Backend{ID: fmt.Sprintf("b%d", i), c: c, IMAPAddr: FreeAddr(t), LMTPAddr: FreeAddr(t),
			POP3Addr: FreeAddr(t), Replication: newLink()}
		roles := []string{node.RoleBackend}
		if o.Combined {
			roles = append(roles, node.RoleFrontend)
		}
		b.cfg = c.nodeConfig("node-"+b.ID, roles...)
		b.cfg.Directory.RaftAddr = FreeAddr(t) // fixed, so a restarted node keeps its address
		b.cfg.Backend.ID = b.ID
		b.cfg.Backend.IMAPAddr, b.cfg.Backend.LMTPAddr = b.IMAPAddr, b.LMTPAddr
		b.cfg.Backend.POP3Addr = b.POP3Addr
		b.cfg.Backend.ReplicaTransport = b.Replication.wrap
		b.Start()
		c.Backends = append(c.Backends, b)
	}
	for i := 1; i <= o.Frontends && !o.Combined; i++ {
		c.Frontends = append(c.Frontends, c.startFrontend(fmt.Sprintf("f%d", i), o.Backends))
	}
	for _, b := range c.Backends {
		if o.Combined {
			WaitFor(t, b.ID+" sees every backend", func() bool { return len(Local(t, b.Node).Backends()) == o.Backends })
			c.Frontends = append(c.Frontends, frontendOf(b.Host))
		}
	}
	return c
}

// nodeConfig is the production config of a node with the test cluster's
// timings, loopback ports the system picks and a temporary data directory.
func (c *Cluster) nodeConfig(id string, roles ...string) node.Config {
	cfg := node.Default()
	cfg.NodeID = id
	cfg.DataDir = c.T.TempDir()
	cfg.Roles = roles
	cfg.ClusterSecret = Secret
	cfg.AdminAddr = "127.0.0.1:0"
	cfg.Logger = c.log.With("node_id", id)

	d := &cfg.Directory
	d.RaftAddr = "127.0.0.1:0"
	d.APIAddr = "127.0.0.1:0"
	d.GossipAddr = "127.0.0.1:0"
	Timings(d)

	cfg.Backend.ReplicationFactor = c.opts.ReplicationFactor
	cfg.Backend.ReplicaTimeout = time.Second
	cfg.Backend.CatchUpInterval = 100 * time.Millisecond
	cfg.Backend.RestoreAfter = c.opts.RestoreAfter
	cfg.Backend.GatherInterval = c.opts.GatherInterval
	cfg.Backend.QuotaCacheFor = c.opts.QuotaCacheFor
	cfg.Accounts = c.opts.Accounts

	cfg.Frontend.IMAPAddr = "127.0.0.1:0"
	cfg.Frontend.LMTPAddr = "127.0.0.1:0"
	cfg.Frontend.POP3Addr = "127.0.0.1:0"
	cfg.Frontend.AllowPlaintextLogin = true
	// Failed logins still delay the next ones, by little.
	cfg.Frontend.LoginPenaltyBase, cfg.Frontend.LoginPenaltyMax = time.Millisecond, 50*time.Millisecond
	if c.tls != nil {
		cfg.TLS = c.tls.forNode(c.T, id)
		cfg.Frontend.IMAPSAddr = "127.0.0.1:0"
		cfg.Frontend.POP3SAddr = "127.0.0.1:0"
	}
	return cfg
}

// Timings sets the test timings on a directory's config: elections and
// commits quick on loopback, and memberlist's patient local profile for a
// test host short of CPU.
func Timings(d *directory.Config) {
	d.HeartbeatTimeout = 300 * time.Millisecond
	d.ElectionTimeout = 300 * time.Millisecond
	d.LeaderLeaseTimeout = 150 * time.Millisecond
	d.CommitTimeout = 5 * time.Millisecond
	d.GossipProfile = "local"
}

// open opens a node's directory, joined to the first voter, and waits
// until a non-voter is in the cluster.
func (c *Cluster) open(cfg node.Config) *node.Node {
	c.T.Helper()
	if len(c.Voters) > 0 {
		cfg.Directory.Join = []string{c.Voters[0].GossipAddr()}
	}
	n, err := node.New(cfg)
	if err != nil {
		c.T.Fatalf("open %s: %v", cfg.NodeID, err)
	}
	c.T.Cleanup(func() { n.Close() })
	if !cfg.Has(node.RoleDirectory) {
		WaitFor(c.T, cfg.NodeID+" in the cluster", func() bool {
			st := n.Directory().Status()
			return st.LeaderID != "" && st.AppliedIndex > 0
		})
	}
	return n
}

// start starts the node's roles.
func (c *Cluster) start(n *node.Node) {
	c.T.Helper()
	if err := n.Start(Ctx(c.T)); err != nil {
		c.T.Fatalf("start %s: %v", n.Config().NodeID, err)
	}
}

// Start starts (or starts again) the backend's node, store and role.
func (b *Backend) Start() {
	b.c.T.Helper()
	b.Host = b.c.open(b.cfg)
	b.c.start(b.Host)
	b.Node = b.Host.Directory()
	b.Store = b.Host.Store()
	b.Role = b.Host.Backend()
}

// Stop stops the backend role, its store and its node, as a crash of the
// whole node would, but cleanly: the data stays for Start.
func (b *Backend) Stop() {
	b.Host.Close()
}

func (c *Cluster) startFrontend(id string, nBackends int) *Frontend {
	t := c.T
	h := c.open(c.nodeConfig(id, node.RoleFrontend))
	WaitFor(t, id+" sees every backend", func() bool { return len(Local(t, h.Directory()).Backends()) == nBackends })
	c.start(h)
	return frontendOf(h)
}

// frontendOf is the frontend role of a started node.
func frontendOf(h *node.Node) *Frontend {
	return &Frontend{
		Node:      h.Directory(),
		IMAPAddr:  h.Addr(node.ListenIMAP),
		LMTPAddr:  h.Addr(node.ListenLMTP),
		IMAP:      h.IMAP(),
		LMTP:      h.LMTP(),
		Host:      h,
		IMAPSAddr: h.Addr(node.ListenIMAPS),
		POP3Addr:  h.Addr(node.ListenPOP3),
		POP3SAddr: h.Addr(node.ListenPOP3S),
	}
}

// AddUser adds a user with password Password and an INBOX on backend i.
func (c *Cluster) AddUser(name string, i int) {
	c.T.Helper()
	h, err := auth.HashPasswordCost(Password, bcrypt.MinCost)
	if err != nil {
		c.T.Fatal(err)
	}
	ctx := Ctx(c.T)
	res, err := c.Voters[0].Apply(ctx, fsm.UserAdd{Name: name, PasswordHash: h, At: time.Now().UnixNano()})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		c.T.Fatalf("add user %s: %v", name, err)
	}
	b := c.Backends[i]
	if err := b.Node.WaitApplied(ctx, res.Index); err != nil {
		c.T.Fatal(err)
	}
	c.Create(i, fsm.Inbox(name))
}

// Create creates a mailbox (internal name) on backend i and waits until
// every frontend has it in its local copy.
func (c *Cluster) Create(i int, name string) *fsm.Mailbox {
	c.T.Helper()
	ctx := Ctx(c.T)
	mb, err := c.Backends[i].Role.Create(ctx, name, "")
	if err != nil {
		c.T.Fatalf("create %s on %s: %v", name, c.Backends[i].ID, err)
	}
	for _, f := range c.Frontends {
		if _, err := f.Node.Read(ctx, directory.Synced); err != nil {
			c.T.Fatal(err)
		}
	}
	return mb
}

// Apply commits cmd to the directory and waits until every backend and
// frontend has applied it; a broken rule fails the test.
func (c *Cluster) Apply(cmd fsm.Command) fsm.Result {
	c.T.Helper()
	ctx := Ctx(c.T)
	res, err := c.Voters[0].Apply(ctx, cmd)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		c.T.Fatalf("apply %T: %v", cmd, err)
	}
	var nodes []*directory.Node
	for _, b := range c.Backends {
		nodes = append(nodes, b.Node)
	}
	for _, f := range c.Frontends {
		nodes = append(nodes, f.Node)
	}
	for _, n := range nodes {
		if err := n.WaitApplied(ctx, res.Index); err != nil {
			c.T.Fatal(err)
		}
	}
	return res
}

// Local is d's local copy as it is (directory.Local), for a test that
// polls it; a read that fails fails the test.
func Local(t testing.TB, d directory.Directory) *fsm.View {
	t.Helper()
	v, err := d.Read(context.Background(), directory.Local)
	if err != nil {
		t.Fatalf("local directory read: %v", err)
	}
	return v
}

// Ctx ends with the test or after two minutes.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// FreeAddr finds a loopback port that is free now and that no outgoing
// connection can take before a server binds it (see freeport).
func FreeAddr(t testing.TB) string {
	addr, err := freeport.Pick("127.0.0.1", false)
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// WaitFor polls cond until it holds, failing the test after 60 seconds.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// MessageCount is how many messages the mailbox (internal name) holds on
// its primary backend, as the directory places it after a synced read.
func (c *Cluster) MessageCount(name string) int {
	c.T.Helper()
	v, err := c.Voters[0].Read(Ctx(c.T), directory.Synced)
	if err != nil {
		c.T.Fatal(err)
	}
	mb, ok := v.Mailbox(name)
	if !ok {
		c.T.Fatalf("no mailbox %s", name)
	}
	for _, b := range c.Backends {
		if b.ID == mb.Primary.Backend {
			msgs, err := b.Store.Messages(mb.ID)
			if err != nil {
				c.T.Fatal(err)
			}
			return len(msgs)
		}
	}
	c.T.Fatalf("%s is on unknown backend %s", name, mb.Primary.Backend)
	return 0
}
