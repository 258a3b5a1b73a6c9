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
