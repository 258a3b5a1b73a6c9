package imapfront

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/backend"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/clusterapi"
	"github.com/rookery-mail/rookery/internal/condstore"
	"github.com/rookery-mail/rookery/internal/freeport"
	"github.com/rookery-mail/rookery/spool"
	"golang.org/x/crypto/bcrypt"
)

const clusterSecret = "test-cluster-secret"

// testCluster is a whole Rookery cluster in one process on loopback: three
// directory voters, backends (each a non-voter with a spool and a backend
// IMAP server) and frontends (each a non-voter with an imapfront.Server).
type testCluster struct {
	t         testing.TB
	voters    []*directory.Node
	backends  []*backend.Backend
	bnodes    []*directory.Node
	frontends []string // client addresses
	fnodes    []*directory.Node
}

func clusterNodeConfig(t testing.TB, id string, roles ...string) directory.Config {
	cfg := directory.Default()
	cfg.NodeID = id
	cfg.DataDir = t.TempDir()
	cfg.Roles = roles
	cfg.RaftAddr = "127.0.0.1:0"
	cfg.APIAddr = "127.0.0.1:0"
	cfg.GossipAddr = "127.0.0.1:0"
	cfg.ClusterSecret = clusterSecret
	cfg.HeartbeatTimeout = 300 * time.Millisecond
	cfg.ElectionTimeout = 300 * time.Millisecond
	cfg.LeaderLeaseTimeout = 150 * time.Millisecond
	cfg.CommitTimeout = 5 * time.Millisecond
	cfg.GossipProfile = "local"
	cfg.Logger = testLogger(t)
	return cfg
}

func startTestCluster(t testing.TB, nBackends, nFrontends int) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	for i := 1; i <= 3; i++ {
		cfg := clusterNodeConfig(t, fmt.Sprintf("v%d", i), directory.RoleDirectory)
		cfg.BootstrapExpect = 3
		c.voters = append(c.voters, c.open(cfg))
	}
	waitFor(t, "a leader", func() bool { return c.voters[0].Status().LeaderID != "" })
	for i := 1; i <= nBackends; i++ {
		id := fmt.Sprintf("b%d", i)
		cfg := clusterNodeConfig(t, "node-"+id, directory.RoleBackend)
		// The directory registers a backend from its node's tags, so the
		// addresses must be known before the node starts.
		imapAddr, lmtpAddr := freeAddr(t), freeAddr(t)
		cfg.Tags = map[string]string{directory.TagBackendID: id,
			directory.TagIMAPAddr: imapAddr, directory.TagLMTPAddr: lmtpAddr}
		node := c.open(cfg)
		c.bnodes = append(c.bnodes, node)
		c.backends = append(c.backends, c.startBackend(id, node, imapAddr, lmtpAddr))
	}
	for i := 1; i <= nFrontends; i++ {
		node := c.open(clusterNodeConfig(t, fmt.Sprintf("f%d", i), directory.RoleFrontend))
		c.fnodes = append(c.fnodes, node)
		waitFor(t, "frontend caught up", func() bool { return len(readAt(t, node, directory.Local).Backends()) == nBackends })
		cfg := testConfig(t, node)
		cfg.ClusterSecret = clusterSecret
		cfg.ModSeqs = condstore.Remote{API: clusterapi.NewClient(clusterSecret, nil, false, nil)}
		addr, _ := startFrontend(t, cfg)
		c.frontends = append(c.frontends, addr)
	}
	return c
}

func (c *testCluster) open(cfg directory.Config) *directory.Node {
	c.t.Helper()
	if len(c.voters) > 0 {
		cfg.Join = []string{c.voters[0].GossipAddr()}
	}
	n, err := directory.Open(cfg)
	if err != nil {
		c.t.Fatalf("open %s: %v", cfg.NodeID, err)
	}
	c.t.Cleanup(func() { n.Close() })
	if !cfg.Voter() {
		waitFor(c.t, cfg.NodeID+" in the cluster", func() bool {
			st := n.Status()
			return st.LeaderID != "" && st.AppliedIndex > 0
		})
	}
	return n
}

// freeAddr finds a loopback port that is free now and that no outgoing
// connection can take before a server binds it.
func freeAddr(t testing.TB) string {
	addr, err := freeport.Pick("127.0.0.1", false)
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func (c *testCluster) startBackend(id string, node *directory.Node, imapAddr, lmtpAddr string) *backend.Backend {
	c.t.Helper()
	st, err := spool.Open(spool.Options{Dir: c.t.TempDir(), Logger: testLogger(c.t)})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { st.Close() })
	b, err := backend.New(backend.Config{
		ID:                 id,
		Store:              st,
		Directory:          node,
		ClusterSecret:      clusterSecret,
		IMAPAddr:           imapAddr,
		LMTPAddr:           lmtpAddr,
		APIAddr:            node.APIAddr(),
		AllowPlaintextAuth: true,
		// The frontend's tests are about one namespace over many backends;
		// replication has its own tests in replication.
		ReplicationFactor: 1,
		Logger:            testLogger(c.t),
	})
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		c.t.Fatalf("start backend %s: %v", id, err)
	}
	b.Routes(node.Handle) // CONDSTORE's reads and writes (Config.ModSeqs)
	c.t.Cleanup(func() { b.Close() })
	return b
}

// addUser adds a user whose password is "secret", with an INBOX on backend i.
func (c *testCluster) addUser(name string, i int) {
	c.t.Helper()
	h, err := auth.HashPasswordCost("secret", bcrypt.MinCost)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.voters[0].Apply(ctx, fsm.UserAdd{Name: name, PasswordHash: h, At: time.Now().UnixNano()})
	if err != nil || res.Err != nil {
		c.t.Fatalf("add user: %v %v", err, res.Err)
	}
	if err := c.bnodes[i].WaitApplied(ctx, res.Index); err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.backends[i].Create(ctx, fsm.Inbox(name), ""); err != nil {
		c.t.Fatalf("create INBOX: %v", err)
	}
}

// createOn creates a mailbox on backend i directly, bypassing the frontend's
// choice of backend.
func (c *testCluster) createOn(i int, name, specialUse string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.backends[i].Create(ctx, name, specialUse); err != nil {
		c.t.Fatalf("create %s on b%d: %v", name, i+1, err)
	}
}

// waitFor polls cond until it holds, failing the test after 30 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
