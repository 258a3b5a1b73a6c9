package fsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// memSink is a raft.SnapshotSink over a buffer.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string    { return "test" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

var _ raft.SnapshotSink = (*memSink)(nil)

func persist(t *testing.T, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	if !sink.closed || sink.cancelled {
		t.Fatalf("sink closed %v cancelled %v", sink.closed, sink.cancelled)
	}
	return sink.Bytes()
}

// populated is a directory with some of everything.
func populated(t *testing.T) *tfsm {
	f := newTestFSM(t)
	f.create("user/alice/INBOX")
	f.create("user/alice/Sent")
	f.create("user/bob/INBOX")
	f.create("user/bob/Old")
	f.ok(Reserve{Name: "shared/pending", Backend: "b3", Replicas: []string{"b1", "b2"}, Reservation: "p", At: 77, SpecialUse: `\Archive`})
	f.ok(SetACL{Name: "user/alice/Sent", Identifier: "bob", Rights: "lr"})
	f.ok(MarkDeleting{Name: "user/bob/Old"})
	f.ok(Subscribe{User: "alice", Name: "user/alice/Sent"})
	f.ok(Subscribe{User: "bob", Name: "user/alice/Sent"})
	f.ok(SetBackendState{ID: "b3", State: BackendDown, At: 5})
	f.ok(DomainAdd{Name: "example.org"})
	f.ok(DomainAdd{Name: "example.net"})
	f.ok(AliasAdd{Address: "info@example.net", User: "alice"})
	return f
}

func TestSnapshotRestore(t *testing.T) {
	f := populated(t)
	data := persist(t, f.FSM)

	g := New()
	g.ApplyCommand(1, BackendRegister{ID: "junk"}) // replaced whole by Restore
	if err := g.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if g.Digest() != f.Digest() {
		t.Fatal("digest differs after restore")
	}
	if g.AppliedIndex() != f.index {
		t.Fatalf("applied %d, want %d", g.AppliedIndex(), f.index)
	}
	if _, ok := g.Backend("junk"); ok {
		t.Fatal("restore kept old state")
	}
	// The restored state is live: counters and indexes carry on.
	mb := g.ApplyCommand(100, Reserve{Name: "user/alice/New", Backend: "b1", Reservation: "n"}).Mailbox
	want := f.ok(Reserve{Name: "user/alice/New", Backend: "b1", Reservation: "n"}).Mailbox
	if mb.ID != want.ID {
		t.Fatalf("next id after restore %d, want %d", mb.ID, want.ID)
	}
	if r := g.ApplyCommand(101, ReleaseReservations{Backend: "b3"}); r.Count != 1 {
		t.Fatalf("reservation index not restored: count %d", r.Count)
	}
	if byID, ok := g.MailboxByID(1); !ok || byID.Name != "user/alice/INBOX" {
		t.Fatalf("id index not restored: %+v", byID)
	}
	if got := g.Subscriptions("bob"); !slices.Equal(got, []string{"user/alice/Sent"}) {
		t.Fatalf("subscriptions %v", got)
	}
	p, _ := f.Mailbox("shared/pending")
	if q, _ := g.MailboxByID(p.ID); q != nil {
		t.Fatalf("released reservation still there: %+v", q)
	}
}

// The digest depends on the state, not on the way to it.
func TestDigestIndependentOfHistory(t *testing.T) {
	a, b := newTestFSM(t), newTestFSM(t)
	a.ok(Subscribe{User: "alice", Name: "shared/x"})
	a.ok(Subscribe{User: "alice", Name: "shared/y"})
	b.ok(Subscribe{User: "alice", Name: "shared/y"})
	b.ok(Noop{})
	b.ok(Subscribe{User: "alice", Name: "shared/x"})
	if a.Digest() != b.Digest() {
		t.Fatal("equal states, different digests")
	}
	b.ok(Unsubscribe{User: "alice", Name: "shared/x"})
	if a.Digest() == b.Digest() {
		t.Fatal("different states, equal digests")
	}
}

func TestRestoreRejectsDamage(t *testing.T) {
	f := populated(t)
	data := persist(t, f.FSM)
	g := populated(t)
	before := g.Digest()
	damaged := map[string][]byte{
		"empty":       {},
		"bad magic":   append([]byte("XXXXXXX"), data[7:]...),
		"truncated":   data[:len(data)/2],
		"no end":      data[:len(data)-2],
		"bad version": append(append([]byte(snapshotMagic), 9), data[len(snapshotMagic)+1:]...),
	}
	for name, d := range damaged {
		if err := g.Restore(io.NopCloser(bytes.NewReader(d))); err == nil {
			t.Errorf("%s: restore succeeded", name)
		}
		if g.Digest() != before {
			t.Fatalf("%s: failed restore changed the state", name)
		}
	}
}

// Persist sees the state of Snapshot time, whatever is applied meanwhile.
func TestSnapshotIsolated(t *testing.T) {
	f := populated(t)
	want := f.Digest()
	snap, _ := f.Snapshot()
	f.create("shared/later")
	f.ok(UserDelete{Name: "bob"})
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	g := New()
	if err := g.Restore(io.NopCloser(&sink.Buffer)); err != nil {
		t.Fatal(err)
	}
	if g.Digest() != want {
		t.Fatal("snapshot saw writes made after it was taken")
	}
}

func TestWaitApplied(t *testing.T) {
	f := newTestFSM(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.WaitApplied(ctx, f.index); err != nil {
		t.Fatalf("already applied: %v", err)
	}
	target := f.index + 3
	done := make(chan error, 1)
	go func() { done <- f.WaitApplied(ctx, target) }()
	for i := 0; i < 3; i++ {
		f.ok(Noop{})
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if f.AppliedIndex() < target {
		t.Fatalf("returned at %d before %d", f.AppliedIndex(), target)
	}

	short, cancelShort := context.WithCancel(context.Background())
	cancelShort()
	if err := f.WaitApplied(short, f.index+100); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
}

// Readers run alongside Apply under the race detector and always see
// whole records.
func TestConcurrentReads(t *testing.T) {
	f := newTestFSM(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				f.Mailboxes("shared/", func(mb *Mailbox) bool {
					if mb.Name == "" || mb.ID == 0 {
						panic(fmt.Sprintf("torn record %+v", mb))
					}
					return true
				})
				f.Mailbox("shared/m5")
				f.Subscriptions("alice")
				_ = f.Digest()
			}
		}()
	}
	for i := 0; i < 200; i++ {
		f.create(fmt.Sprintf("shared/m%d", i))
		f.ok(Subscribe{User: "alice", Name: fmt.Sprintf("shared/m%d", i)})
	}
	close(stop)
	wg.Wait()
	if f.MailboxCount() != 200 {
		t.Fatalf("count %d", f.MailboxCount())
	}
}

func TestApplyBatch(t *testing.T) {
	f := newTestFSM(t)
	var logs []*raft.Log
	for i := 0; i < 10; i++ {
		data, _ := Encode(Reserve{Name: fmt.Sprintf("shared/b%d", i), Backend: "b1", Reservation: "r"})
		logs = append(logs, logAt(f.index+uint64(i)+1, data))
	}
	logs = append(logs, &raft.Log{Index: f.index + 11, Type: raft.LogConfiguration})
	out := f.ApplyBatch(logs)
	for i, o := range out[:10] {
		if r := o.(Result); r.Err != nil || r.Mailbox.ID != uint64(i+1) {
			t.Fatalf("entry %d: %+v", i, r)
		}
	}
	if out[10] != nil {
		t.Fatalf("configuration entry got %v", out[10])
	}
	if f.AppliedIndex() != f.index+11 || f.MailboxCount() != 10 {
		t.Fatalf("applied %d count %d", f.AppliedIndex(), f.MailboxCount())
	}
}

// The admin flag survives a snapshot; a snapshot made before the flag
// existed (user records without the flags field) still restores, and a
// directory without admins writes exactly those older records.
func TestSnapshotUserAdmin(t *testing.T) {
	f := populated(t)
	before := persist(t, f.FSM)
	digestBefore := f.Digest()
	old := New()
	if err := old.Restore(io.NopCloser(bytes.NewReader(before))); err != nil {
		t.Fatal(err)
	}
	if u, ok := old.User("alice"); !ok || u.Admin {
		t.Fatalf("restored without flags: %+v", u)
	}

	f.ok(UserAdmin{Name: "bob", Admin: true})
	data := persist(t, f.FSM)
	g := New()
	if err := g.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if u, _ := g.User("bob"); !u.Admin {
		t.Fatalf("admin flag lost: %+v", u)
	}
	if u, _ := g.User("alice"); u.Admin {
		t.Fatalf("alice became admin: %+v", u)
	}
	if g.Digest() != f.Digest() {
		t.Fatal("digest differs after restore")
	}

	f.ok(UserAdmin{Name: "bob"})
	if f.Digest() != digestBefore {
		t.Fatal("a directory without admins should write the records of before the flag")
	}
}

func TestDecodeUserRejectsUnknownFlags(t *testing.T) {
	e := encoder{}
	appendUser(&e, &User{Name: "a", State: UserActive, Admin: true})
	e.buf[len(e.buf)-1] = 0x02
	d := decoder{buf: e.buf}
	decodeUser(&d)
	if err := d.finish(); err == nil {
		t.Fatal("unknown flag accepted")
	}
}
