package backend_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/rookery-mail/rookery/backend"
	"github.com/rookery-mail/rookery/backend/backendtest"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
)

// lossyActivate is a directory whose first Activate gets no answer, as
// when the leader loses its leadership while committing: with commit set
// the command takes effect anyway, else not (yet).
type lossyActivate struct {
	directory.Directory
	commit bool
	mu     sync.Mutex
	lost   *fsm.Activate // the Activate whose answer was lost
}

func (d *lossyActivate) Apply(ctx context.Context, c fsm.Command) (fsm.Result, error) {
	a, ok := c.(fsm.Activate)
	d.mu.Lock()
	first := ok && d.lost == nil
	if first {
		d.lost = &a
	}
	d.mu.Unlock()
	if !first {
		return d.Directory.Apply(ctx, c)
	}
	if d.commit {
		d.Directory.Apply(ctx, c)
	}
	return fsm.Result{}, errors.New("leadership lost while committing log")
}

func backendOver(t *testing.T, dir directory.Directory) *backend.Backend {
	t.Helper()
	st, err := spool.Open(spool.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b, err := backend.New(backend.Config{
		ID: "b1", Store: st, Directory: dir, ClusterSecret: backendtest.Secret,
		IMAPAddr: "127.0.0.1:0", LMTPAddr: "127.0.0.1:0", ReplicationFactor: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(backendtest.Ctx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// A create whose Activate lost its answer but committed succeeds: the
// backend finds the mailbox active under its reservation.
func TestCreateSettlesActivateThatCommitted(t *testing.T) {
	dir := &lossyActivate{Directory: backendtest.StartDirectory(t), commit: true}
	b := backendOver(t, dir)
	mb, err := b.Create(backendtest.Ctx(t), "user/alice/Work", "")
	if err != nil {
		t.Fatalf("create whose activation committed: %v", err)
	}
	if got, ok := readLocal(t, dir).Mailbox("user/alice/Work"); !ok || got.State != fsm.Active || got.ID != mb.ID {
		t.Fatalf("directory holds %+v", got)
	}
}

// A create whose Activate got no answer and did not commit fails, and
// then never takes effect: its reservation is released, so the Activate,
// committed late, is refused.
func TestCreateThatFailsNeverTakesEffectLater(t *testing.T) {
	dir := &lossyActivate{Directory: backendtest.StartDirectory(t)}
	b := backendOver(t, dir)
	if _, err := b.Create(backendtest.Ctx(t), "user/alice/Work", ""); err == nil {
		t.Fatal("create whose activation got no answer succeeded")
	}
	res, err := dir.Directory.Apply(backendtest.Ctx(t), *dir.lost)
	if err != nil {
		t.Fatal(err)
	}
	if res.Err == nil {
		t.Fatal("the lost Activate, committed late, activated a create that was answered NO")
	}
	if _, ok := readLocal(t, dir).Mailbox("user/alice/Work"); ok {
		t.Fatal("the failed create left the name taken")
	}
}
