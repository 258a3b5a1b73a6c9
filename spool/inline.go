package spool

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Bodies of up to inlineMax bytes, most mail, are kept in the index itself
// (bucket inline) instead of a file of their own: a body is written in the
// transaction of the commit that first refers to it, so it is durable by
// the same fsync as its record, and storing it costs no file creation, no
// rename and no fsync of a file and a directory. A file is created per
// message only for the larger ones.
//
// Between writeBody and that commit the body is staged: held in memory
// for as long as its writer pins it. The commit that adds its first
// reference (ref) puts it in the bucket. A body whose last reference goes
// is removed after the commit, as a file is, and only when no reader has
// retained it: removeUnreferenced queues it as garbage, and the next
// commit deletes it if it is still unreferenced and unpinned.
//
// Staged bodies are bounded by maxStaged all told: past it (a replica
// taking a whole mailbox at once, say), a small body is written as a file,
// as a large one is. Readers find either.
const (
	inlineMax = 32 << 10
	maxStaged = 64 << 20
)

// BodyReader is what Body returns: a message file or an inline body.
type BodyReader interface {
	io.ReadSeekCloser
	io.ReaderAt
}

var _ BodyReader = (*os.File)(nil)

// inlineBody is an inline body read out of the index.
type inlineBody struct{ *bytes.Reader }

func (inlineBody) Close() error { return nil }

// stage pins guid and holds data as its body until the last unpin; it
// reports false, and does nothing, when the staged bodies would pass
// maxStaged.
func (s *Store) stage(guid string, data []byte) bool {
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	if _, ok := s.staged[guid]; !ok {
		if s.stagedBytes+int64(len(data)) > maxStaged {
			return false
		}
		s.staged[guid] = data
		s.stagedBytes += int64(len(data))
	}
	s.pins[guid]++
	return true
}

// stagedBody is the staged body of guid, or nil.
func (s *Store) stagedBody(guid string) []byte {
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	return s.staged[guid]
}

// placeNewBody makes sure the body of guid, new to the index, is kept
// with the commit: a staged body is put in the inline bucket; an inline
// body not yet removed, or a file, is already there. ref calls it, and a
// body found nowhere fails the op (ErrMissingBody): a replica's check that
// the body is present may have seen it staged by another import, since
// released.
func (w *txn) placeNewBody(guid string, size int64) error {
	// Referred to again: no longer to be removed.
	if err := w.Bucket(bucketUnreferenced).Delete(guidKey(guid)); err != nil {
		return err
	}
	if data := w.s.stagedBody(guid); data != nil {
		return w.Bucket(bucketInline).Put(guidKey(guid), data)
	}
	// A file no reference names may be being removed (removeUnreferenced
	// reads the index without this transaction's reference): pinned first,
	// it is either gone before the check or kept until the commit.
	w.s.pin(guid)
	w.held = append(w.held, guid)
	if !w.s.bodyDurable(w.Tx, guid, size) {
		return fmt.Errorf("%w: body %s", ErrMissingBody, guid)
	}
	return nil
}

// inlineSize is the size of guid's inline body in tx, or -1.
func inlineSize(tx *bolt.Tx, guid string) int64 {
	v := tx.Bucket(bucketInline).Get(guidKey(guid))
	if v == nil {
		return -1
	}
	return int64(len(v))
}

// bodyPresent reports whether the body guid of size bytes can be referred
// to in tx: staged, inline or in its file. A replica checks it before it
// adds a record whose body the primary sent.
func (s *Store) bodyPresent(tx *bolt.Tx, guid string, size int64) bool {
	if d := s.stagedBody(guid); d != nil {
		return int64(len(d)) == size
	}
	return s.bodyDurable(tx, guid, size)
}

// bodyDurable reports whether the body guid of size bytes is kept, inline
// in tx or in its file. It takes no lock: Verify calls it inside a read
// transaction, and removeUnreferenced holds pinMu while it opens one.
func (s *Store) bodyDurable(tx *bolt.Tx, guid string, size int64) bool {
	if n := inlineSize(tx, guid); n >= 0 {
		return n == size
	}
	fi, err := os.Stat(s.bodyPath(guid))
	return err == nil && fi.Size() == size
}

// viewIndex is view without closeMu, for the committer (which Close
// waits for while it holds closeMu) and the calls it makes: after Close it
// fails with ErrClosed.
func (s *Store) viewIndex(fn func(tx *bolt.Tx) error) error {
	err := s.db.View(fn)
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// openBody opens the body of guid: staged, inline, or its file. tx is the
// transaction the caller is in, or nil.
func (s *Store) openBody(tx *bolt.Tx, guid string) (BodyReader, error) {
	if d := s.stagedBody(guid); d != nil {
		return inlineBody{bytes.NewReader(d)}, nil
	}
	var data []byte
	read := func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketInline).Get(guidKey(guid)); v != nil {
			data = bytes.Clone(v)
		}
		return nil
	}
	if tx != nil {
		read(tx)
	} else if err := s.viewIndex(read); err != nil {
		return nil, err
	}
	if data != nil {
		return inlineBody{bytes.NewReader(data)}, nil
	}
	return os.Open(s.bodyPath(guid))
}

// queueGarbageLocked queues inline bodies that lost their last reference; pinMu
// is held.
func (s *Store) queueGarbageLocked(guids []string) {
	s.garbage = append(s.garbage, guids...)
}

// takeGarbage returns the queued garbage and empties the queue.
func (s *Store) takeGarbage() []string {
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	g := s.garbage
	s.garbage = nil
	return g
}

// requeueGarbage puts back garbage a failed commit did not remove.
func (s *Store) requeueGarbage(guids []string) {
	if len(guids) == 0 {
		return
	}
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	s.garbage = append(s.garbage, guids...)
}

// collectGarbage deletes the inline bodies of guids that are still
// unreferenced and that no writer or reader has pinned. It may run again
// in a retried transaction.
func (s *Store) collectGarbage(tx *bolt.Tx, guids []string) error {
	if len(guids) == 0 {
		return nil
	}
	inline := tx.Bucket(bucketInline)
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	for _, g := range guids {
		if s.pins[g] > 0 || hasBody(tx, g) {
			continue
		}
		if err := inline.Delete(guidKey(g)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketUnreferenced).Delete(guidKey(g)); err != nil {
			return err
		}
	}
	return nil
}

// removeOrphanInline deletes inline bodies no record refers to: a crash
// between a body's last reference going and its removal leaves one. With
// listed, it looks only at those the unreferenced list names (unref lists
// each in the commit that drops its last reference); without, at every
// inline body.
func removeOrphanInline(tx *bolt.Tx, listed bool) (int, error) {
	var candidates, orphans [][]byte
	from := bucketInline
	if listed {
		from = bucketUnreferenced
	}
	c := tx.Bucket(from).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		candidates = append(candidates, bytes.Clone(k))
	}
	bodies := tx.Bucket(bucketBodies)
	for _, k := range candidates {
		if bodies.Get(k) == nil {
			orphans = append(orphans, k)
		}
		if err := tx.Bucket(bucketUnreferenced).Delete(k); err != nil {
			return 0, err
		}
	}
	for _, k := range orphans {
		if err := tx.Bucket(bucketInline).Delete(k); err != nil {
			return 0, fmt.Errorf("delete orphan inline body: %w", err)
		}
	}
	return len(orphans), nil
}
