package spool

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The recent mark of a mailbox is the highest UID that some session has
// already been shown as \Recent (RFC 3501 section 2.3.2): messages above
// it are recent for the next session to claim them. It is kept in the
// index beside the meta, so it survives a restart of this backend; it is
// local to this backend and not part of what replication sends, so a new
// primary after a failover or a move starts from its own mark.
var keyRecent = []byte("recent")

func readRecentMark(b *bolt.Bucket) uint32 {
	if v := b.Get(keyRecent); len(v) == 4 {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

// ClaimRecent raises the recent mark of mailbox id to upTo and returns
// the mark before: the messages with UIDs in (prev, upTo] are recent in
// the caller's session and in no other. A mark already at or above upTo
// is left alone and nothing is written.
func (s *Store) ClaimRecent(id uint64, upTo uint32) (prev uint32, err error) {
	if prev, err = s.RecentMark(id); err != nil || prev >= upTo {
		return prev, err
	}
	err = s.submit(func(w *txn) error {
		b := w.Bucket(bucketMailboxes).Bucket(idKey(id))
		if b == nil {
			return fmt.Errorf("%w: %d", ErrNoMailbox, id)
		}
		prev = readRecentMark(b)
		if prev >= upTo {
			return nil
		}
		return b.Put(keyRecent, binary.BigEndian.AppendUint32(nil, upTo))
	})
	return prev, err
}

// RecentMark returns the recent mark of mailbox id without moving it, for
// EXAMINE, which does not take recency away.
func (s *Store) RecentMark(id uint64) (uint32, error) {
	var mark uint32
	err := s.view(func(tx *bolt.Tx) error {
		b, err := mailboxBucket(tx, id)
		if err == nil {
			mark = readRecentMark(b)
		}
		return err
	})
	return mark, err
}

// countAbove counts the records of uids with a UID above mark.
func countAbove(uids *bolt.Bucket, mark uint32) uint32 {
	var n uint32
	c := uids.Cursor()
	for k, _ := c.Seek(uidKey(mark + 1)); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}
