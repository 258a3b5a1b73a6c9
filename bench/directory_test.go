package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

func TestDirectoryHealthyCluster(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 2})
	c.AddUser("alice", 0)
	res, err := RunDirectory(testcluster.Ctx(t), DirectoryConfig{
		Addrs: []string{c.Frontends[0].IMAPAddr, c.Frontends[1].IMAPAddr},
		Users: []Credential{{"alice", testcluster.Password}}, Clients: 2, Duration: 1500 * time.Millisecond,
		Strict: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil {
		t.Fatalf("a healthy cluster: %v\n%s", err, strings.Join(res.Examples, "\n"))
	}
	for _, op := range []string{"create", "rename", "delete", "list_lag_create", "list_lag_rename", "list_lag_delete"} {
		if o, ok := res.Op(op); !ok || o.Count == 0 || o.Errors > 0 {
			t.Errorf("op %s: %+v", op, o)
		}
	}
	if tries, misses := figure(res, "list_tries"), figure(res, "list_misses"); tries == 0 || misses != 0 {
		t.Errorf("LISTs on the other frontend after a change: %v, of which %v missed it; want some, none missed", tries, misses)
	}
	logOps(t, res)
}

func figure(r *Result, name string) float64 {
	for _, f := range r.Figures {
		if f.Name == name {
			return f.Value
		}
	}
	return -1
}

func TestDirectoryFindsHiddenRename(t *testing.T) {
	honest := startBrokenServer(t, honest)
	res, err := RunDirectory(testcluster.Ctx(t), DirectoryConfig{
		Addrs: []string{honest, honest}, Users: []Credential{{"alice", "pw"}},
		Clients: 1, Duration: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil {
		t.Fatalf("an honest server: %v", err)
	}

	broken := startBrokenServer(t, hideRenamed)
	res, err = RunDirectory(testcluster.Ctx(t), DirectoryConfig{
		Addrs: []string{broken, broken}, Users: []Credential{{"alice", "pw"}},
		Clients: 1, Duration: 300 * time.Millisecond, LagBound: 100 * time.Millisecond, Strict: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !anyContains(res.Examples, "after RENAME OK, LIST on the same connection") || !anyContains(res.Examples, "another frontend's LIST still disagrees") ||
		!anyContains(res.Examples, "begun after RENAME OK") {
		t.Fatalf("want read-your-writes, lag and miss violations, got %d:\n%s", res.Violations, strings.Join(res.Examples, "\n"))
	}
	if figure(res, "list_misses") == 0 {
		t.Fatal("no LIST miss counted against a server that hides renamed mailboxes")
	}
}
