package spool

import (
	"bytes"
	"fmt"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
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
const inlineMax = 32 << 10

// BodyReader is what Body returns: a message file or an inline body.
type BodyReader interface {
	io.ReadSeekCloser
	io.ReaderAt
}

var _ BodyReader = (*os.File)(nil)

// inlineBody is an inline body read out of the index.
type inlineBody struct{ *bytes.Reader }

func (inlineBody) Close() error { return nil }

// stage pins guid and holds data as its body until the last unpin.
func (s *Store) stage(guid string, data []byte) {
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	s.pins[guid]++
	if _, ok := s.staged[guid]; !ok {
		s.staged[guid] = data
	}
}

// stagedBody is the staged body of guid, or nil.
func (s *Store) stagedBody(guid string) []byte {
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	return s.staged[guid]
}

// putStaged stores the staged body of guid in the transaction, if there
// is one: ref calls it when guid is new to the index.
func (w *txn) putStaged(guid string) error {
	data := w.s.stagedBody(guid)
	if data == nil {
		return nil
	}
	return w.Bucket(bucketInline).Put(guidKey(guid), data)
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
	if n := inlineSize(tx, guid); n >= 0 {
		return n == size
	}
	fi, err := os.Stat(s.bodyPath(guid))
	return err == nil && fi.Size() == size
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
	} else if err := s.view(read); err != nil {
		return nil, err
	}
	if data != nil {
		return inlineBody{bytes.NewReader(data)}, nil
	}
	return os.Open(s.bodyPath(guid))
}

// queueGarbage notes inline bodies that lost their last reference; pinMu
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
	}
	return nil
}

// removeOrphanInline deletes inline bodies no record refers to: a crash
// between a body's last reference going and its removal leaves one.
func removeOrphanInline(tx *bolt.Tx) (int, error) {
	var orphans [][]byte
	bodies := tx.Bucket(bucketBodies)
	err := tx.Bucket(bucketInline).ForEach(func(k, _ []byte) error {
		if bodies.Get(k) == nil {
			orphans = append(orphans, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range orphans {
		if err := tx.Bucket(bucketInline).Delete(k); err != nil {
			return 0, fmt.Errorf("delete orphan inline body: %w", err)
		}
	}
	return len(orphans), nil
}
