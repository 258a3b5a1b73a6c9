package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// `admin mailbox create NAME --backend B` places the mailbox's primary on
// B whichever backend node takes the call, even a user's folder whose
// INBOX is elsewhere; an unknown backend is refused and makes nothing.
func TestAdminMailboxCreateOnBackend(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 3})
	t.Setenv("ROOKERY_CLUSTER_SECRET", testcluster.Secret)
	admin := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := runAdmin(append([]string{"--addr", c.Voters[0].APIAddr(), "--timeout", "30s"}, args...), &out, &errOut)
		return out.String() + errOut.String(), err
	}
	c.AddUser("alice", 0)
	for _, name := range []string{"user/alice/Archive", "shared/news", "shared/lists"} {
		for _, b := range []string{"b2", "b3"} {
			n := name + "-" + b
			out, err := admin("mailbox", "create", n, "--backend", b)
			if err != nil || !strings.Contains(out, "on "+b) {
				t.Fatalf("create %s --backend %s: %v\n%s", n, b, err, out)
			}
			testcluster.WaitFor(t, n+" on "+b+" in the directory", func() bool {
				m, ok := testcluster.Local(t, c.Voters[0]).Mailbox(n)
				return ok && m.Primary.Backend == b
			})
		}
	}
	out, err := admin("mailbox", "create", "shared/nowhere", "--backend=b9")
	if err == nil || !strings.Contains(err.Error(), "no such backend") {
		t.Fatalf("create on an unknown backend: %v\n%s", err, out)
	}
	if _, ok := testcluster.Local(t, c.Voters[0]).Mailbox("shared/nowhere"); ok {
		t.Fatal("the refused create made the mailbox")
	}
	if out, err := admin("mailbox", "create", "shared/x", "--bogus"); err == nil || !strings.Contains(err.Error()+out, "unknown flag --bogus") {
		t.Fatalf("unknown flag: %v\n%s", err, out)
	}
}
