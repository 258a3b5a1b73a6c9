package backend_test

import (
	"testing"

	"github.com/rookery-mail/rookery/backend"
	"github.com/rookery-mail/rookery/backend/backendtest"
	"github.com/rookery-mail/rookery/spool"
)

// A backend behind a proxy or NAT registers the addresses frontends reach
// it at, not the ones it listens on.
func TestRegistersAdvertisedAddresses(t *testing.T) {
	dir := backendtest.StartDirectory(t)
	st, err := spool.Open(spool.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b, err := backend.New(backend.Config{
		ID: "adv", Store: st, Directory: dir, ClusterSecret: backendtest.Secret,
		IMAPAddr: "127.0.0.1:0", LMTPAddr: "127.0.0.1:0",
		IMAPAdvertise: "192.0.2.10:7143", LMTPAdvertise: "192.0.2.10:7024",
		ReplicationFactor: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(backendtest.Ctx(t)); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rec, ok := readLocal(t, dir).Backend("adv")
	if !ok {
		t.Fatal("backend not registered")
	}
	if rec.IMAPAddr != "192.0.2.10:7143" || rec.LMTPAddr != "192.0.2.10:7024" {
		t.Fatalf("registered %s and %s, want the advertised addresses", rec.IMAPAddr, rec.LMTPAddr)
	}
	if b.IMAPAddr() == rec.IMAPAddr {
		t.Fatal("the backend listens on the advertised address")
	}
}
