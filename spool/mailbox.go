package spool

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CreateMailbox creates mailbox m.ID, durably before it returns. Creating
// it again with identical meta succeeds; with other meta it is
// ErrMailboxExists.
func (s *Store) CreateMailbox(m MailboxMeta) error {
	if m.Stride == 0 || m.Slot >= m.Stride || m.UIDValidity == 0 {
		return fmt.Errorf("%w: uidvalidity %d, stride %d, slot %d", ErrInvalidMeta, m.UIDValidity, m.Stride, m.Slot)
	}
	err := s.submit(func(w *txn) error {
		root := w.Bucket(bucketMailboxes)
		if b := root.Bucket(idKey(m.ID)); b != nil {
			old, err := readMeta(b, m.ID)
			if err != nil {
				return err
			}
			if old.MailboxMeta != m {
				return fmt.Errorf("%w: %d", ErrMailboxExists, m.ID)
			}
			return nil
		}
		b, err := root.CreateBucket(idKey(m.ID))
		if err != nil {
			return err
		}
		if _, err := b.CreateBucket(keyUIDs); err != nil {
			return err
		}
		meta := mailboxMeta{MailboxMeta: m, HighestModSeq: 1}
		w.stats.mailboxes++
		return writeMeta(b, &meta)
	})
	if err == nil {
		s.log.Info("spool: mailbox created", "mailbox", m.ID, "uidvalidity", m.UIDValidity, "slot", m.Slot, "stride", m.Stride)
	}
	return err
}

// SetUIDValidity records mailbox id's uidvalidity. A backend creates the
// mailbox on disk before the directory's Activate assigns the uidvalidity,
// and records it here afterwards (or at start-up, when it finds the
// mailbox active).
func (s *Store) SetUIDValidity(id uint64, uidValidity uint32) error {
	if uidValidity == 0 {
		return fmt.Errorf("%w: uidvalidity 0", ErrInvalidMeta)
	}
	return s.submit(func(w *txn) error {
		b := w.Bucket(bucketMailboxes).Bucket(idKey(id))
		if b == nil {
			return fmt.Errorf("%w: %d", ErrNoMailbox, id)
		}
		meta, err := readMeta(b, id)
		if err != nil {
			return err
		}
		if meta.UIDValidity == uidValidity {
			return nil
		}
		meta.UIDValidity = uidValidity
		return writeMeta(b, &meta)
	})
}

// DeleteMailbox removes mailbox id and its records; message files no other
// mailbox refers to are removed after the commit.
func (s *Store) DeleteMailbox(id uint64) error {
	err := s.submit(func(w *txn) error {
		_, uids, meta, err := loadMailbox(w.Tx, id)
		if err != nil {
			return err
		}
		w.stats.mailboxes--
		w.stats.messages -= int64(meta.Messages)
		var guids []string
		err = uids.ForEach(func(_, v []byte) error {
			m, err := decodeRecord(v)
			guids = append(guids, m.GUID)
			return err
		})
		if err != nil {
			return err
		}
		for _, g := range guids {
			if err := w.unref(g); err != nil {
				return err
			}
		}
		return w.Bucket(bucketMailboxes).DeleteBucket(idKey(id))
	})
	if err == nil {
		s.log.Info("spool: mailbox deleted", "mailbox", id)
	}
	return err
}

// Mailboxes lists every mailbox in the spool, quarantined ones excepted.
func (s *Store) Mailboxes() ([]MailboxMeta, error) {
	var out []MailboxMeta
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMailboxes).ForEachBucket(func(k []byte) error {
			id := binary.BigEndian.Uint64(k)
			m, err := readMeta(tx.Bucket(bucketMailboxes).Bucket(k), id)
			out = append(out, m.MailboxMeta)
			return err
		})
	})
	return out, err
}

// Quarantine sets mailbox id aside: it leaves the list of mailboxes and
// every operation on it fails with ErrNoMailbox, but its records and files
// are kept for an operator to inspect.
func (s *Store) Quarantine(id uint64, reason string) error {
	err := s.submit(func(w *txn) error {
		root := w.Bucket(bucketMailboxes)
		b := root.Bucket(idKey(id))
		if b == nil {
			return fmt.Errorf("%w: %d", ErrNoMailbox, id)
		}
		meta, err := readMeta(b, id)
		if err != nil {
			return err
		}
		// The records go with it into quarantine and keep their bodies.
		w.stats.mailboxes--
		w.stats.messages -= int64(meta.Messages)
		// A unique key: an id may be quarantined, recreated and quarantined again.
		key := binary.BigEndian.AppendUint64(idKey(id), uint64(time.Now().UnixNano()))
		dst, err := w.Bucket(bucketQuarantine).CreateBucket(key)
		if err != nil {
			return err
		}
		if err := copyBucket(root.Bucket(idKey(id)), dst); err != nil {
			return err
		}
		if err := root.DeleteBucket(idKey(id)); err != nil {
			return err
		}
		return dst.Put(keyReason, []byte(reason))
	})
	if err == nil {
		s.log.Warn("spool: mailbox quarantined", "mailbox", id, "reason", reason)
	}
	return err
}

// copyBucket copies src's keys and nested buckets into dst.
func copyBucket(src, dst *bolt.Bucket) error {
	return src.ForEach(func(k, v []byte) error {
		if v != nil {
			return dst.Put(k, v)
		}
		child, err := dst.CreateBucket(k)
		if err != nil {
			return err
		}
		return copyBucket(src.Bucket(k), child)
	})
}

// Status summarises mailbox id.
func (s *Store) Status(id uint64) (Status, error) {
	var st Status
	err := s.visibleView(id, func(tx *bolt.Tx) error {
		b, uids, m, err := loadMailbox(tx, id)
		if err != nil {
			return err
		}
		st = Status{
			Recent:        countAbove(uids, readRecentMark(b)),
			Messages:      m.Messages,
			Unseen:        m.Unseen,
			UIDNext:       m.uidNext(),
			UIDValidity:   m.UIDValidity,
			HighestModSeq: m.HighestModSeq,
			Size:          m.Size,
		}
		return nil
	})
	return st, err
}
