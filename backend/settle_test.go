package backend_test

import (
	"errors"
	"testing"

	"github.com/rookery-mail/rookery/backend/backendtest"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/testcluster"
)

// TestUnfinishedDeleteSettles: a DELETE whose MarkDeleting committed and
// whose Remove did not (an election between the two) leaves the name
// deleting only until the backend's settle loop finishes it; then the
// name can be created again.
func TestUnfinishedDeleteSettles(t *testing.T) {
	env := backendtest.Start(t)
	env.AddUser("alice", "pw")
	ctx := backendtest.Ctx(t)
	m, err := env.Backend.Create(ctx, "user/alice/Work", "")
	if err != nil {
		t.Fatal(err)
	}
	env.Apply(fsm.MarkDeleting{Name: m.Name})
	testcluster.WaitFor(t, "the unfinished delete to be finished", func() bool {
		_, ok := readLocal(t, env.Dir).Mailbox(m.Name)
		return !ok && !onDisk(t, env.Store, m.ID)
	})
	if _, err := env.Backend.Create(ctx, m.Name, ""); err != nil {
		t.Fatalf("create again after the settled delete: %v", err)
	}
}

// TestDeleteOfADeadBackendSettles: a delete begun on a backend that then
// went down for good is finished by the leader once the backend is down,
// so the name does not stay deleting, and its other mailboxes stay.
func TestDeleteOfADeadBackendSettles(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 0})
	c.AddUser("alice", 0)
	gone := c.Create(0, "user/alice/Work")
	kept := c.Create(0, "user/alice/Keep")
	c.Backends[0].Stop()
	ctx := testcluster.Ctx(t)
	res, err := c.Voters[0].Apply(ctx, fsm.MarkDeleting{Name: gone.Name})
	if err != nil || res.Err != nil {
		t.Fatalf("mark deleting: %v %v", err, res.Err)
	}
	testcluster.WaitFor(t, "the leader to finish the dead backend's delete", func() bool {
		_, ok := readLocal(t, c.Voters[0]).Mailbox(gone.Name)
		return !ok
	})
	if _, ok := readLocal(t, c.Voters[0]).Mailbox(kept.Name); !ok {
		t.Fatalf("%s went with the delete of %s", kept.Name, gone.Name)
	}
}

// TestDeleteOfADeletingMailbox: a DELETE that finds the mailbox marked by
// another DELETE helps finish it but is not answered as if it had deleted
// it: two DELETEs of one mailbox are never both OK (the jepsen model
// caught two overlapping DELETE OKs after one CREATE).
func TestDeleteOfADeletingMailbox(t *testing.T) {
	env := backendtest.Start(t)
	env.AddUser("alice", "pw")
	ctx := backendtest.Ctx(t)
	m, err := env.Backend.Create(ctx, "user/alice/Work", "")
	if err != nil {
		t.Fatal(err)
	}
	env.Apply(fsm.MarkDeleting{Name: m.Name})
	if err := env.Backend.Delete(ctx, m.Name); !errors.Is(err, fsm.ErrNoMailbox) {
		t.Fatalf("DELETE of a mailbox another DELETE marked: %v, want fsm.ErrNoMailbox", err)
	}
	if _, ok := readLocal(t, env.Dir).Mailbox(m.Name); ok || onDisk(t, env.Store, m.ID) {
		t.Fatal("the second DELETE did not finish the first")
	}
}
