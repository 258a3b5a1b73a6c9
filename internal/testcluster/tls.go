package testcluster

import (
	"crypto/x509"
	"path/filepath"
	"testing"

	"github.com/rookery-mail/rookery/internal/node"
	"github.com/rookery-mail/rookery/tlsutil"
)

// clusterTLS is a test cluster's CA and gossip key, from which each node
// gets its certificate.
type clusterTLS struct {
	dir       string
	gossipKey []byte
	pool      *x509.CertPool
}

func newClusterTLS(t testing.TB) *clusterTLS {
	t.Helper()
	ct := &clusterTLS{dir: t.TempDir()}
	caDir := filepath.Join(ct.dir, "ca")
	ca, err := tlsutil.InitCA(caDir)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(caDir, tlsutil.GossipKeyFile)
	if err := tlsutil.InitGossipKey(keyFile); err != nil {
		t.Fatal(err)
	}
	if ct.gossipKey, err = tlsutil.GossipKey(keyFile); err != nil {
		t.Fatal(err)
	}
	ct.pool = x509.NewCertPool()
	ct.pool.AddCert(ca.Cert)
	return ct
}

// forNode is the TLS of node id, issuing its certificate on first use; a
// restarted node gets the same one.
func (ct *clusterTLS) forNode(t testing.TB, id string) node.TLS {
	t.Helper()
	nodeDir := filepath.Join(ct.dir, id)
	certFile := filepath.Join(nodeDir, tlsutil.NodeCertFile)
	if _, err := tlsutil.LoadCert(certFile); err != nil {
		if _, err := tlsutil.IssueNode(filepath.Join(ct.dir, "ca"), id, []string{"localhost", "127.0.0.1"}, nodeDir); err != nil {
			t.Fatal(err)
		}
	}
	var nt node.TLS
	var err error
	if nt.Server, err = tlsutil.MutualServerConfig(nodeDir); err != nil {
		t.Fatal(err)
	}
	if nt.Client, err = tlsutil.MutualClientConfig(nodeDir); err != nil {
		t.Fatal(err)
	}
	if nt.Clients, err = tlsutil.ClientPortConfig(certFile, filepath.Join(nodeDir, tlsutil.NodeKeyFile)); err != nil {
		t.Fatal(err)
	}
	nt.GossipKey = ct.gossipKey
	return nt
}
