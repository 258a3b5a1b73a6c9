package bench

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

func TestIMAPHealthyCluster(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1})
	c.AddUser("alice", 0)
	c.AddUser("bob", 1)
	res, err := RunIMAP(testcluster.Ctx(t), IMAPConfig{
		Addr:    c.Frontends[0].IMAPAddr,
		Users:   []Credential{{"alice", testcluster.Password}, {"bob", testcluster.Password}},
		Clients: 4, Duration: 2 * time.Second, SessionOps: 15, Size: 2000, Seed: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil {
		t.Fatalf("a healthy cluster: %v\n%v", err, res.Examples)
	}
	for _, op := range []string{"login", "select", "fetch_envelope", "fetch_body", "store", "append", "expunge", "search"} {
		if o, ok := res.Op(op); !ok || o.Count == 0 || o.Errors == o.Count {
			t.Errorf("op %s: %+v (ran %v)", op, o, ok)
		}
	}
	if err := res.Write(filepath.Join(t.TempDir(), "imap")); err != nil {
		t.Fatal(err)
	}
	logOps(t, res)
}

func logOps(t *testing.T, res *Result) {
	t.Helper()
	for _, o := range res.Ops {
		t.Logf("%-15s %6d ops %4d errors %8.1f/s p50 %.2fms p99 %.2fms", o.Op, o.Count, o.Errors, o.PerSecond, o.Latency.P50, o.Latency.P99)
	}
}
