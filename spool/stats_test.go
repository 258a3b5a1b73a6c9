package spool

import (
	"context"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestStatsFollowEveryWrite: the counters a commit adjusts agree with a
// count of the index after appends, a copy, an expunge, a quarantine and a
// delete, and a reopened store counts the same.
func TestStatsFollowEveryWrite(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	want := func(step string, w Stats) {
		t.Helper()
		if got := s.Stats(); got != w {
			t.Fatalf("%s: stats %+v, want %+v", step, got, w)
		}
	}
	want("empty", Stats{})
	mustCreate(t, s, 1, 2, 0)
	mustCreate(t, s, 2, 2, 0)
	mustCreate(t, s, 3, 2, 0)
	a := mustAppend(t, s, 1, testBody(1), imap.FlagDeleted)
	b := mustAppend(t, s, 1, testBody(2), imap.FlagDeleted)
	mustAppend(t, s, 3, testBody(3))
	size := func(n int) int64 { return int64(len(testBody(n))) }
	want("appended", Stats{Mailboxes: 3, Messages: 3, Bytes: size(1) + size(2) + size(3)})

	// A copy adds a record but no file: the body is stored once.
	if _, err := s.Copy(context.Background(), 1, []uint32{a.UID}, 2); err != nil {
		t.Fatal(err)
	}
	want("copied", Stats{Mailboxes: 3, Messages: 4, Bytes: size(1) + size(2) + size(3)})

	// Expunging the last reference to a body drops its bytes.
	if _, err := s.Expunge(1, []uint32{a.UID, b.UID}); err != nil {
		t.Fatal(err)
	}
	want("expunged", Stats{Mailboxes: 3, Messages: 2, Bytes: size(1) + size(3)})

	// A quarantined mailbox leaves the counts; its body stays on disk.
	if err := s.Quarantine(3, "test"); err != nil {
		t.Fatal(err)
	}
	want("quarantined", Stats{Mailboxes: 2, Messages: 1, Bytes: size(1) + size(3)})

	if err := s.DeleteMailbox(2); err != nil {
		t.Fatal(err)
	}
	final := Stats{Mailboxes: 1, Messages: 0, Bytes: size(3)}
	want("deleted", final)

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	want("reopened", final)
}

// TestStatsOnReplica: a copy made, grown and shrunk by replicated batches
// counts as a mailbox with its records and bodies, and its deletion takes
// the counts back to nothing; a primary's own delivery of a body the copy
// brought counts the message and not the bytes again.
func TestStatsOnReplica(t *testing.T) {
	dir := t.TempDir()
	p, r := openStore(t, t.TempDir()), openStore(t, dir)
	want := func(step string, s *Store, w Stats) {
		t.Helper()
		if got := s.Stats(); got != w {
			t.Fatalf("%s: stats %+v, want %+v", step, got, w)
		}
	}
	size := func(n int) int64 { return int64(len(testBody(n))) }
	mustCreate(t, p, 1, 2, 0)
	a := mustAppend(t, p, 1, testBody(1), imap.FlagDeleted)
	mustAppend(t, p, 1, testBody(2))
	if err := ship(t, p, r, 1, 1, false); err != nil {
		t.Fatal(err)
	}
	want("replicated", r, Stats{Mailboxes: 1, Messages: 2, Bytes: size(1) + size(2)})

	if _, err := p.Expunge(1, []uint32{a.UID}); err != nil {
		t.Fatal(err)
	}
	if err := ship(t, p, r, 1, 1, false); err != nil {
		t.Fatal(err)
	}
	want("expunge replicated", r, Stats{Mailboxes: 1, Messages: 1, Bytes: size(2)})

	// The replica is primary of a mailbox of its own holding the same body.
	mustCreate(t, r, 2, 2, 0)
	mustAppend(t, r, 2, testBody(2))
	want("own delivery", r, Stats{Mailboxes: 2, Messages: 2, Bytes: size(2)})

	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r = openStore(t, dir)
	want("reopened", r, Stats{Mailboxes: 2, Messages: 2, Bytes: size(2)})

	for _, id := range []uint64{1, 2} {
		if err := r.DeleteMailbox(id); err != nil {
			t.Fatal(err)
		}
	}
	want("deleted", r, Stats{})
}
