package imapfront_test

import (
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// TestLoginPenaltyAcrossFrontends: failed logins on one frontend delay
// logins for that user and address on the others too (gossiped hints),
// and the right password still logs in there; the success clears the
// penalty on the frontend that failed.
func TestLoginPenaltyAcrossFrontends(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 2})
	c.AddUser("alice", 0)
	a, b := c.Frontends[0], c.Frontends[1]
	// Hints go to the members gossip knows: a frontend that has not yet
	// heard of the other would tell no one.
	testcluster.WaitFor(t, "the first frontend to know the second by gossip", func() bool {
		for _, m := range a.Node.ClusterStatus(testcluster.Ctx(t)) {
			if m.NodeID == b.Node.ID() && m.Error == "" {
				return true
			}
		}
		return false
	})
	ca, err := imapclient.DialInsecure(a.IMAPAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	for range 3 {
		if err := ca.Login("alice", "wrong").Wait(); err == nil {
			t.Fatal("a wrong password logged in")
		}
	}
	testcluster.WaitFor(t, "the other frontend to learn of the failures", func() bool {
		return b.IMAP.LoginDelay("127.0.0.1", "alice") > 0 && b.IMAP.LoginDelay("192.0.2.7", "alice") > 0
	})
	if d := b.IMAP.LoginDelay("192.0.2.7", "bob"); d != 0 {
		t.Fatalf("bob from another address is delayed %v by alice's failures", d)
	}
	cb, err := imapclient.DialInsecure(b.IMAPAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	if err := cb.Login("alice", testcluster.Password).Wait(); err != nil {
		t.Fatalf("the right password on the other frontend: %v", err)
	}
	testcluster.WaitFor(t, "the success to clear the penalty where the failures were", func() bool {
		return a.IMAP.LoginDelay("127.0.0.1", "alice") == 0
	})
}
