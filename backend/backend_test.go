package backend_test

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/backend/backendtest"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
)

func TestCreateDeleteRename(t *testing.T) {
	env := backendtest.Start(t)
	env.AddUser("alice", "pw")
	ctx := backendtest.Ctx(t)
	be := env.Backend

	m, err := be.Create(ctx, "user/alice/Sent", `\Sent`)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	// Read-your-writes: the local copy shows it as Create returns.
	got, ok := readLocal(t, env.Dir).Mailbox("user/alice/Sent")
	if !ok || got.State != fsm.Active || got.UIDValidity == 0 || got.ID != m.ID || got.SpecialUse != `\Sent` {
		t.Fatalf("directory record %+v", got)
	}
	if !onDisk(t, env.Store, m.ID) {
		t.Fatal("mailbox not in the spool")
	}
	if st, err := env.Store.Status(m.ID); err != nil || st.UIDValidity != got.UIDValidity {
		t.Fatalf("spool uidvalidity %d (%v), directory's %d", st.UIDValidity, err, got.UIDValidity)
	}
	if _, err := be.Create(ctx, "user/alice/Sent", ""); !errors.Is(err, fsm.ErrNameExists) {
		t.Fatalf("second create: %v, want ErrNameExists", err)
	}
	if err := be.Rename(ctx, "user/alice/Sent", "user/alice/Sent Items"); err != nil {
		t.Fatalf("rename: %v", err)
	}
	renamed, ok := readLocal(t, env.Dir).Mailbox("user/alice/Sent Items")
	if !ok || renamed.ID != m.ID {
		t.Fatalf("renamed record %+v", renamed)
	}
	if err := be.Delete(ctx, "user/alice/Sent Items"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, ok := readLocal(t, env.Dir).Mailbox("user/alice/Sent Items"); ok {
		t.Fatal("directory entry left after delete")
	}
	if onDisk(t, env.Store, m.ID) {
		t.Fatal("mailbox left in the spool after delete")
	}
}

// Mailbox names never reach the file system: the spool stores by id, and
// bad names are refused before anything is written anywhere.
func TestNamesNeverReachTheFileSystem(t *testing.T) {
	env := backendtest.Start(t)
	env.AddUser("alice", "pw")
	ctx := backendtest.Ctx(t)
	before := tree(t, env.StoreDir)
	indexBefore := readLocal(t, env.Dir).MailboxCount()
	for _, name := range []string{
		"user/alice/../../etc/passwd",
		"user/alice/a/../b",
		"user/alice/nul\x00byte",
		"user/alice/" + strings.Repeat("x", 1000),
		"../user/alice/x",
	} {
		if _, err := env.Backend.Create(ctx, name, ""); !errors.Is(err, fsm.ErrInvalidName) {
			t.Errorf("create %q: %v, want ErrInvalidName", name, err)
		}
	}
	if readLocal(t, env.Dir).MailboxCount() != indexBefore {
		t.Fatal("a refused name reached the directory")
	}
	if after := tree(t, env.StoreDir); !slices.Equal(before, after) {
		t.Fatalf("the spool changed for refused names:\n%v\n%v", before, after)
	}
	// A legal name full of dots and spaces lives in the directory only.
	odd := "user/alice/..hidden/ spaced .name"
	if _, err := env.Backend.Create(ctx, odd, ""); err != nil {
		t.Fatalf("create %q: %v", odd, err)
	}
	for _, p := range tree(t, env.StoreDir) {
		if strings.Contains(p, "hidden") || strings.Contains(p, "spaced") {
			t.Fatalf("mailbox name reached the file system: %s", p)
		}
	}
}

func TestReconcile(t *testing.T) {
	env := backendtest.Start(t)
	env.AddUser("alice", "pw")
	ctx := backendtest.Ctx(t)

	// A crash after the spool step: reserved, on disk.
	onDiskRes := env.Apply(fsm.Reserve{Name: "user/alice/Half", Backend: backendtest.BackendID, Reservation: "r-disk", At: time.Now().UnixNano()})
	half := onDiskRes.Mailbox
	if err := env.Store.CreateMailbox(spool.MailboxMeta{ID: half.ID, UIDValidity: 1, Stride: half.Stride, Slot: half.Primary.Slot}); err != nil {
		t.Fatal(err)
	}
	// A crash before it: reserved, not on disk.
	env.Apply(fsm.Reserve{Name: "user/alice/Never", Backend: backendtest.BackendID, Reservation: "r-none", At: time.Now().UnixNano()})
	// Another backend's reservation is not ours to settle.
	env.Apply(fsm.BackendRegister{ID: "b2", IMAPAddr: "127.0.0.1:1", LMTPAddr: "127.0.0.1:2", At: time.Now().UnixNano()})
	env.Apply(fsm.Reserve{Name: "user/alice/Theirs", Backend: "b2", Reservation: "r-b2", At: time.Now().UnixNano()})
	// A crash during DELETE: marked deleting, still on disk.
	gone, err := env.Backend.Create(ctx, "user/alice/Gone", "")
	if err != nil {
		t.Fatal(err)
	}
	env.Apply(fsm.MarkDeleting{Name: "user/alice/Gone"})
	// A mailbox on disk the directory never heard of, with a message.
	const strayID = 1 << 40
	if err := env.Store.CreateMailbox(spool.MailboxMeta{ID: strayID, UIDValidity: 7, Stride: 2}); err != nil {
		t.Fatal(err)
	}
	stray, err := env.Store.Append(ctx, spool.AppendRequest{Mailbox: strayID, Body: strings.NewReader("Subject: keep me\r\n\r\nx\r\n")})
	if err != nil {
		t.Fatal(err)
	}

	// Start-up reconciles: a new backend over the same directory and spool.
	if err := env.Backend.Close(); err != nil {
		t.Fatal(err)
	}
	env.StartBackend()
	fsmNow := readLocal(t, env.Dir)
	// Its create was never answered OK, and its client may have been told
	// NO: released, and its files dropped.
	if m, ok := fsmNow.Mailbox("user/alice/Half"); ok {
		t.Errorf("reservation with a mailbox on disk kept: %+v", m)
	}
	if onDisk(t, env.Store, half.ID) {
		t.Error("a released reservation's mailbox is still on disk")
	}
	if m, ok := fsmNow.Mailbox("user/alice/Never"); ok {
		t.Errorf("reservation without a mailbox on disk kept: %+v", m)
	}
	if m, ok := fsmNow.Mailbox("user/alice/Theirs"); !ok || m.State != fsm.Reserved {
		t.Errorf("another backend's reservation: %+v, want reserved", m)
	}
	if _, ok := fsmNow.Mailbox("user/alice/Gone"); ok || onDisk(t, env.Store, gone.ID) {
		t.Errorf("interrupted delete not finished")
	}
	if onDisk(t, env.Store, strayID) {
		t.Error("unknown mailbox still listed in the spool")
	}
	// Quarantined, not deleted: the message file is still there.
	if f, err := env.Store.Body(stray.GUID); err != nil {
		t.Errorf("quarantined message body gone: %v", err)
	} else {
		f.Close()
	}
	// The released name can be created again.
	if _, err := env.Backend.Create(ctx, "user/alice/Never", ""); err != nil {
		t.Errorf("create after release: %v", err)
	}
	// A second pass finds nothing to do.
	rep, err := env.Backend.Reconcile(ctx)
	if err != nil || len(rep.Released)+len(rep.Deleted)+len(rep.Quarantined)+len(rep.Missing) != 0 {
		t.Errorf("second reconcile: %v %+v", err, rep)
	}
}

func onDisk(t testing.TB, st *spool.Store, id uint64) bool {
	t.Helper()
	metas, err := st.Mailboxes()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range metas {
		if m.ID == id {
			return true
		}
	}
	return false
}

// tree lists every path under dir except the index file, whose bytes
// change with any commit.
func tree(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readLocal is the local copy of dir as it is.
func readLocal(t testing.TB, dir directory.Directory) *fsm.View {
	t.Helper()
	v, err := dir.Read(context.Background(), directory.Local)
	if err != nil {
		t.Fatalf("local read of the directory: %v", err)
	}
	return v
}
