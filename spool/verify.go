package spool

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/emersion/go-imap/v2"
	bolt "go.etcd.io/bbolt"
)

// Verify checks that the index agrees with itself and with the files:
// every record's body file exists with the recorded size, record keys
// match their UIDs and ascend below the mailbox's highest seen UID, the
// mailbox counters match the records, and every body's reference count
// matches the records that name it (quarantined mailboxes included).
func (s *Store) Verify() error {
	return s.view(func(tx *bolt.Tx) error {
		refs := make(map[string]uint32)
		var errs []error
		check := func(id uint64, b *bolt.Bucket) {
			if err := s.verifyMailbox(id, b, refs); err != nil {
				errs = append(errs, err)
			}
		}
		tx.Bucket(bucketMailboxes).ForEachBucket(func(k []byte) error {
			check(binary.BigEndian.Uint64(k), tx.Bucket(bucketMailboxes).Bucket(k))
			return nil
		})
		tx.Bucket(bucketQuarantine).ForEachBucket(func(k []byte) error {
			check(binary.BigEndian.Uint64(k), tx.Bucket(bucketQuarantine).Bucket(k))
			return nil
		})
		errs = append(errs, verifyRefs(tx, refs))
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("%w: verify: %w", ErrIO, err)
		}
		return nil
	})
}

func (s *Store) verifyMailbox(id uint64, b *bolt.Bucket, refs map[string]uint32) error {
	meta, err := readMeta(b, id)
	if err != nil {
		return err
	}
	uids := b.Bucket(keyUIDs)
	if uids == nil {
		return fmt.Errorf("mailbox %d: no records bucket", id)
	}
	var got mailboxMeta
	var last uint32
	var errs []error
	uids.ForEach(func(k, v []byte) error {
		m, err := decodeRecord(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("mailbox %d: %w", id, err))
			return nil
		case len(k) != 4 || binary.BigEndian.Uint32(k) != m.UID:
			errs = append(errs, fmt.Errorf("mailbox %d: record key does not match uid %d", id, m.UID))
		case m.UID <= last || m.UID > meta.MaxSeenUID:
			errs = append(errs, fmt.Errorf("mailbox %d: uid %d out of order (previous %d, highest seen %d)", id, m.UID, last, meta.MaxSeenUID))
		case m.ModSeq > meta.HighestModSeq:
			errs = append(errs, fmt.Errorf("mailbox %d: uid %d modseq %d above highest %d", id, m.UID, m.ModSeq, meta.HighestModSeq))
		}
		last = m.UID
		refs[m.GUID]++
		got.Messages++
		got.Size += m.Size
		if !hasFlag(m.Flags, imap.FlagSeen) {
			got.Unseen++
		}
		if !s.bodyDurable(b.Tx(), m.GUID, m.Size) {
			errs = append(errs, fmt.Errorf("mailbox %d: uid %d: body %s missing or not %d bytes", id, m.UID, m.GUID, m.Size))
		}
		return nil
	})
	if err := verifyChanges(id, b, meta.HighestModSeq); err != nil {
		errs = append(errs, err)
	}
	if got.Messages != meta.Messages || got.Unseen != meta.Unseen || got.Size != meta.Size {
		errs = append(errs, fmt.Errorf("mailbox %d: counters %d/%d/%d, records say %d/%d/%d",
			id, meta.Messages, meta.Unseen, meta.Size, got.Messages, got.Unseen, got.Size))
	}
	return errors.Join(errs...)
}

func verifyRefs(tx *bolt.Tx, refs map[string]uint32) error {
	var errs []error
	tx.Bucket(bucketBodies).ForEach(func(k, v []byte) error {
		g := hex.EncodeToString(k)
		if len(v) != 12 {
			errs = append(errs, fmt.Errorf("body %s: bad reference record", g))
		} else if n := binary.BigEndian.Uint32(v); n != refs[g] {
			errs = append(errs, fmt.Errorf("body %s: reference count %d, records %d", g, n, refs[g]))
		}
		delete(refs, g)
		return nil
	})
	for g, n := range refs {
		errs = append(errs, fmt.Errorf("body %s: %d records but no reference count", g, n))
	}
	return errors.Join(errs...)
}
