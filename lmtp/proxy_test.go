package lmtp_test

import (
	"net"
	"testing"

	"github.com/rookery-mail/rookery/internal/testcluster"
	"github.com/rookery-mail/rookery/lmtp"
)

// startProxy serves a second LMTP proxy on the cluster's first frontend,
// configured by set, and returns its address.
func startProxy(t *testing.T, c *testcluster.Cluster, set func(*lmtp.Config)) string {
	t.Helper()
	cfg := lmtp.Default()
	cfg.Directory = c.Frontends[0].Node
	cfg.Logger = testcluster.Logger()
	set(&cfg)
	p, err := lmtp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Serve(ln)
	}()
	t.Cleanup(func() {
		p.Close()
		<-done
	})
	return ln.Addr().String()
}
