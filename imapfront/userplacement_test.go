package imapfront_test

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/testcluster"
)

// A new user's top-level folders, which have no parent mailbox, are
// created on the backend of the user's INBOX while it is up, whatever the
// other backends' load; with that backend down they go to the least
// loaded one that is up.
func TestTopLevelFoldersFollowInbox(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 3, Frontends: 1})
	c.AddUser("alice", 1)
	f := c.Frontends[0]
	cl, err := imapclient.DialInsecure(f.IMAPAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Login("alice", testcluster.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Work", "Sent", "Trash", "Work/2026"} {
		if err := cl.Create(name, nil).Wait(); err != nil {
			t.Fatalf("CREATE %s: %v", name, err)
		}
		m, ok := testcluster.Local(t, f.Node).Mailbox("user/alice/" + name)
		if !ok || m.Primary.Backend != "b2" {
			t.Fatalf("%s placed on %+v, want b2 with the INBOX", name, m)
		}
	}

	res, err := c.Voters[0].Apply(testcluster.Ctx(t), fsm.SetBackendState{ID: "b2", State: fsm.BackendDown, At: time.Now().UnixNano()})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, "the frontend to see b2 down", func() bool {
		b, ok := testcluster.Local(t, f.Node).Backend("b2")
		return ok && b.State == fsm.BackendDown
	})
	if err := cl.Create("Archive", nil).Wait(); err != nil {
		t.Fatalf("CREATE with the INBOX's backend down: %v", err)
	}
	if m, ok := testcluster.Local(t, f.Node).Mailbox("user/alice/Archive"); !ok || m.Primary.Backend == "b2" {
		t.Fatalf("Archive placed on %+v with b2 down", m)
	}
}
