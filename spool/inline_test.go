package spool

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/emersion/go-imap/v2"
	bolt "go.etcd.io/bbolt"
)

// A small body is kept in the index and a large one in a file; both read
// back whole, and both survive a reopen.
func TestInlineAndFileBodies(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustCreate(t, s, 1, 1, 0)
	small := mustAppend(t, s, 1, testBody(1))
	large := mustAppend(t, s, 1, largeBody(2))
	inFile := func(m Message) bool { _, err := os.Stat(s.bodyPath(m.GUID)); return err == nil }
	if inFile(small) || !inFile(large) {
		t.Fatalf("small body in a file: %v, large body in a file: %v; want false, true", inFile(small), inFile(large))
	}
	s.Close()
	s = openStore(t, dir)
	for _, c := range []struct {
		m    Message
		body string
	}{{small, testBody(1)}, {large, largeBody(2)}} {
		f, err := s.Body(c.m.GUID)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(f)
		f.Close()
		if err != nil || string(got) != c.body {
			t.Fatalf("body of %d bytes read back as %d bytes (%v)", len(c.body), len(got), err)
		}
	}
	mustVerify(t, s)
}

// Past maxStaged, a small body is written as a file rather than held in
// memory until its commit; it reads back the same.
func TestStagedBodiesAreBounded(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustCreate(t, s, 1, 1, 0)
	s.pinMu.Lock()
	s.stagedBytes = maxStaged // as if other writers held that much
	s.pinMu.Unlock()
	m := mustAppend(t, s, 1, testBody(1))
	s.pinMu.Lock()
	s.stagedBytes = 0
	s.pinMu.Unlock()
	if _, err := os.Stat(s.bodyPath(m.GUID)); err != nil {
		t.Fatalf("a small body past the staging bound has no file: %v", err)
	}
	mustVerify(t, s)
	mustAppend(t, s, 1, testBody(2))
	keptInline := false
	s.view(func(tx *bolt.Tx) error { keptInline = inlineSize(tx, guidOfBody(testBody(2))) > 0; return nil })
	if !keptInline {
		t.Fatal("below the bound, a small body is not inline")
	}
}

// A first reference to a body that is neither staged, inline nor a file
// fails its op, whatever a check before it saw: a record is never
// committed without its body.
func TestFirstReferenceNeedsTheBody(t *testing.T) {
	s := openStore(t, t.TempDir())
	guid := guidOfBody("never stored")
	err := s.submit(func(w *txn) error { return w.ref(guid, 12, nil) })
	if !errors.Is(err, ErrMissingBody) {
		t.Fatalf("reference to a body kept nowhere: %v, want ErrMissingBody", err)
	}
	var refs bool
	s.view(func(tx *bolt.Tx) error { refs = hasBody(tx, guid); return nil })
	if refs {
		t.Fatal("the failed reference was committed")
	}
}

func guidOfBody(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}

// An inline body queued for removal is removed even when the batch that
// took it from the queue failed as a whole: the rolled-back removal is
// queued again.
func TestGarbageOutlivesAFailedBatch(t *testing.T) {
	s := openStore(t, t.TempDir())
	guid := guidOfBody("an unreferenced body")
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketInline).Put(guidKey(guid), []byte("an unreferenced body"))
	}); err != nil {
		t.Fatal(err)
	}
	s.pinMu.Lock()
	s.queueGarbageLocked([]string{guid})
	s.pinMu.Unlock()
	refused := errors.New("refused")
	if err := s.submit(func(w *txn) error { return refused }); !errors.Is(err, refused) {
		t.Fatalf("failing op: %v", err)
	}
	waitFor(t, "the unreferenced inline body to go", func() bool { return !bodyKept(t, s, guid) })
}

// A body whose last reference goes is listed as unreferenced in that
// commit and unlisted when removed, so that Open finds what a crash left
// between the two without reading every inline body; a store written
// before the list existed is searched whole, once.
func TestUnreferencedList(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustCreate(t, s, 1, 1, 0)
	m := mustAppend(t, s, 1, testBody(1), imap.FlagDeleted)
	listed := func() int {
		n := 0
		s.view(func(tx *bolt.Tx) error { n = tx.Bucket(bucketUnreferenced).Stats().KeyN; return nil })
		return n
	}
	if _, err := s.Expunge(1, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the expunged body to go", func() bool { return !bodyKept(t, s, m.GUID) })
	if n := listed(); n != 0 {
		t.Fatalf("%d bodies still listed unreferenced after their removal", n)
	}
	// An older store: no list, and an inline body no record names.
	orphan := bytes.Repeat([]byte{9}, 32)
	if err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketUnreferenced); err != nil {
			return err
		}
		return tx.Bucket(bucketInline).Put(orphan, []byte("y"))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, dir)
	if bodyKept(t, s, hex.EncodeToString(orphan)) {
		t.Fatal("an orphan inline body of a store without the list survived Open")
	}
	if n := listed(); n != 0 {
		t.Fatalf("%d bodies listed after Open", n)
	}
	mustVerify(t, s)
}
