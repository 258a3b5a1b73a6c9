package directory

import (
	"crypto/tls"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rookery-mail/rookery/tlsutil"
)

// nodeTLS is id's server and client TLS, its certificate issued for
// certFor by the CA in caDir.
func nodeTLS(t *testing.T, caDir, certFor string) (server, client *tls.Config) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), certFor)
	if _, err := tlsutil.IssueNode(caDir, certFor, []string{"localhost", "127.0.0.1"}, dir); err != nil {
		t.Fatal(err)
	}
	server, err := tlsutil.MutualServerConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	client, err = tlsutil.MutualClientConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	return server, client
}

func TestNodeTLSNeedsGossipKey(t *testing.T) {
	caDir := filepath.Join(t.TempDir(), "ca")
	if _, err := tlsutil.InitCA(caDir); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "v1", RoleDirectory)
	cfg.ServerTLS, cfg.ClientTLS = nodeTLS(t, caDir, "v1")
	if err := cfg.Validate(); err == nil {
		t.Fatal("node TLS without a gossip key validated")
	}
}

// A member with the gossip key and a certificate of the cluster's CA, but
// not the certificate of the node it claims to be, is never made part of
// the Raft configuration; a member with its own certificate is.
func TestMemberIdentityCheckedBeforeRaftChange(t *testing.T) {
	caDir := filepath.Join(t.TempDir(), "ca")
	if _, err := tlsutil.InitCA(caDir); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	withTLS := func(id, certFor string, roles ...string) Config {
		cfg := testConfig(t, id, roles...)
		cfg.ServerTLS, cfg.ClientTLS = nodeTLS(t, caDir, certFor)
		cfg.GossipKey = key
		return cfg
	}
	c := &testCluster{t: t, nodes: map[string]*Node{}, cfgs: map[string]Config{}}
	t.Cleanup(c.closeAll)
	first := withTLS("v1", "v1", RoleDirectory)
	first.BootstrapExpect = 1
	c.start(first)
	leader := c.leader()

	c.start(withTLS("v2", "mallory", RoleDirectory)) // another node's certificate
	waitFor(t, 10*time.Second, "the leader to hear of v2", func() bool {
		_, ok := leader.members.get("v2")
		return ok
	})
	c.start(withTLS("v3", "v3", RoleDirectory))
	servers := func() map[string]bool {
		f := leader.raft.GetConfiguration()
		if f.Error() != nil {
			return nil
		}
		out := map[string]bool{}
		for _, s := range f.Configuration().Servers {
			out[string(s.ID)] = s.Suffrage == raft.Voter
		}
		return out
	}
	waitFor(t, 10*time.Second, "v3 to be a voter", func() bool { return servers()["v3"] })
	if _, ok := servers()["v2"]; ok {
		t.Fatalf("v2, holding mallory's certificate, is in the Raft configuration: %v", servers())
	}
}
