// Package testcluster runs a whole Rookery cluster in one test process on
// loopback: three directory voters, backends (each a directory non-voter
// with a spool and the backend role) and frontends (each a non-voter with
// the IMAP and LMTP proxies). Everything is real: Raft on disk, TCP
// listeners, fsync. Backends can be stopped and started again from their
// data, on the same addresses.
package testcluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
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
}

type Cluster struct {
	T         testing.TB
	Voters    []*directory.Node
	Backends  []*Backend
	Frontends []*Frontend
	log       *slog.Logger
	opts      Options
}

// Backend is one backend node. Stop and Start keep its data and addresses.
type Backend struct {
	ID       string
	IMAPAddr string
	LMTPAddr string
	Node     *directory.Node
	Store    *spool.Store
	Role     *backend.Backend

	c        *Cluster
	cfg      directory.Config
	spoolDir string
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
}

// Logger discards logs unless ROOKERY_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("ROOKERY_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Start brings up a cluster and stops it when the test ends.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	c := &Cluster{T: t, log: Logger(), opts: o}
	if c.opts.ReplicationFactor == 0 {
		c.opts.ReplicationFactor = 1
	}
	for i := 1; i <= 3; i++ {
		cfg := c.nodeConfig(fmt.Sprintf("v%d", i), directory.RoleDirectory)
		cfg.BootstrapExpect = 3
		c.Voters = append(c.Voters, c.open(cfg))
	}
	WaitFor(t, "a leader", func() bool { return c.Voters[0].Status().LeaderID != "" })
	for i := 1; i <= o.Backends; i++ {
		b := &Backend{ID: fmt.Sprintf("b%d", i), c: c, IMAPAddr: FreeAddr(t), LMTPAddr: FreeAddr(t), spoolDir: t.TempDir(),
			Replication: newLink()}
		b.cfg = c.nodeConfig("node-"+b.ID, directory.RoleBackend)
		b.cfg.RaftAddr = FreeAddr(t) // fixed, so a restarted node keeps its address
		b.cfg.Tags = map[string]string{directory.TagBackendID: b.ID,
			directory.TagIMAPAddr: b.IMAPAddr, directory.TagLMTPAddr: b.LMTPAddr}
		b.Start()
		c.Backends = append(c.Backends, b)
	}
	for i := 1; i <= o.Frontends; i++ {
		c.Frontends = append(c.Frontends, c.startFrontend(fmt.Sprintf("f%d", i), o.Backends))
	}
	return c
}

func (c *Cluster) nodeConfig(id string, roles ...string) directory.Config {
	cfg := directory.Default()
	cfg.NodeID = id
	cfg.DataDir = c.T.TempDir()
	cfg.Roles = roles
	cfg.RaftAddr = "127.0.0.1:0"
	cfg.APIAddr = "127.0.0.1:0"
	cfg.GossipAddr = "127.0.0.1:0"
	cfg.ClusterSecret = Secret
	cfg.HeartbeatTimeout = 300 * time.Millisecond
	cfg.ElectionTimeout = 300 * time.Millisecond
	cfg.LeaderLeaseTimeout = 150 * time.Millisecond
	cfg.CommitTimeout = 5 * time.Millisecond
	cfg.GossipProfile = "local"
	cfg.Logger = c.log.With("node_id", id)
	return cfg
}

func (c *Cluster) open(cfg directory.Config) *directory.Node {
	c.T.Helper()
	if len(c.Voters) > 0 {
		cfg.Join = []string{c.Voters[0].GossipAddr()}
	}
	n, err := directory.Open(cfg)
	if err != nil {
		c.T.Fatalf("open %s: %v", cfg.NodeID, err)
	}
	c.T.Cleanup(func() { n.Close() })
	if !cfg.Voter() {
		WaitFor(c.T, cfg.NodeID+" in the cluster", func() bool {
			st := n.Status()
			return st.LeaderID != "" && st.AppliedIndex > 0
		})
	}
	return n
}

// Start starts (or starts again) the backend's node, store and role.
func (b *Backend) Start() {
	t := b.c.T
	t.Helper()
	b.Node = b.c.open(b.cfg)
	st, err := spool.Open(spool.Options{Dir: b.spoolDir, Logger: b.c.log})
	if err != nil {
		t.Fatal(err)
	}
	b.Store = st
	t.Cleanup(func() { st.Close() })
	role, err := backend.New(backend.Config{
		ID: b.ID, Store: st, Directory: b.Node, ClusterSecret: Secret,
		IMAPAddr: b.IMAPAddr, LMTPAddr: b.LMTPAddr, APIAddr: b.Node.APIAddr(),
		AllowPlaintextAuth: true, Logger: b.c.log.With("backend", b.ID),
		ReplicationFactor: b.c.opts.ReplicationFactor, ReplicaTimeout: time.Second,
		CatchUpInterval: 100 * time.Millisecond, ReplicaHTTPClient: b.Replication.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := role.Start(Ctx(t)); err != nil {
		t.Fatalf("start backend %s: %v", b.ID, err)
	}
	role.Routes(b.Node.Handle)
	b.Role = role
	t.Cleanup(func() { role.Close() })
}

// Stop stops the backend role, its store and its node, as a crash of the
// whole node would, but cleanly: the data stays for Start.
func (b *Backend) Stop() {
	b.Role.Close()
	b.Store.Close()
	b.Node.Close()
}

func (c *Cluster) startFrontend(id string, nBackends int) *Frontend {
	t := c.T
	node := c.open(c.nodeConfig(id, directory.RoleFrontend))
	WaitFor(t, id+" sees every backend", func() bool { return len(node.FSM().Backends()) == nBackends })
	f := &Frontend{Node: node}

	ic := imapfront.Default()
	ic.Directory = node
	ic.ClusterSecret = Secret
	ic.AllowPlaintextLogin = true
	ic.Logger = c.log.With("frontend", id)
	srv, err := imapfront.New(ic)
	if err != nil {
		t.Fatal(err)
	}
	f.IMAP = srv
	f.IMAPAddr = serve(t, srv.Serve, srv.Close)

	lc := lmtp.Default()
	lc.Directory = node
	lc.Hostname = id
	lc.Logger = c.log.With("frontend", id)
	proxy, err := lmtp.New(lc)
	if err != nil {
		t.Fatal(err)
	}
	f.LMTP = proxy
	f.LMTPAddr = serve(t, proxy.Serve, proxy.Close)
	return f
}

func serve(t testing.TB, serveFn func(net.Listener) error, stop func() error) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		serveFn(ln)
	}()
	t.Cleanup(func() {
		stop()
		ln.Close()
		<-done
	})
	return ln.Addr().String()
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
		if err := f.Node.SyncedRead(ctx); err != nil {
			c.T.Fatal(err)
		}
	}
	return mb
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
	if err := c.Voters[0].SyncedRead(Ctx(c.T)); err != nil {
		c.T.Fatal(err)
	}
	mb, ok := c.Voters[0].FSM().Mailbox(name)
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
