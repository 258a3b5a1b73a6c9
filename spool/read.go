package spool

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Messages returns every record of mailbox id in UID order.
func (s *Store) Messages(id uint64) ([]Message, error) {
	var out []Message
	err := s.visibleView(id, func(tx *bolt.Tx) error {
		_, uids, _, err := loadMailbox(tx, id)
		if err != nil {
			return err
		}
		return uids.ForEach(func(_, v []byte) error {
			m, err := decodeRecord(v)
			out = append(out, m)
			return err
		})
	})
	return out, err
}

// Message returns the record of uid in mailbox id.
func (s *Store) Message(id uint64, uid uint32) (Message, error) {
	var m Message
	err := s.visibleView(id, func(tx *bolt.Tx) error {
		_, uids, _, err := loadMailbox(tx, id)
		if err != nil {
			return err
		}
		var ok bool
		m, ok, err = getRecord(uids, uid)
		if err == nil && !ok {
			err = fmt.Errorf("%w: mailbox %d uid %d", ErrNoMessage, id, uid)
		}
		return err
	})
	return m, err
}

// Size adds up the sizes of those of uids that mailbox id holds.
func (s *Store) Size(id uint64, uids []uint32) (int64, error) {
	var n int64
	err := s.visibleView(id, func(tx *bolt.Tx) error {
		_, recs, _, err := loadMailbox(tx, id)
		if err != nil {
			return err
		}
		for _, uid := range uids {
			m, ok, err := getRecord(recs, uid)
			if err != nil {
				return err
			}
			if ok {
				n += m.Size
			}
		}
		return nil
	})
	return n, err
}

// UIDRange is the UIDs from First to Last, both included.
type UIDRange struct{ First, Last uint32 }

// Changed reads, from one snapshot of mailbox id, its highest modseq and
// the records within ranges (ascending, not overlapping) whose modseq is
// above since (0: every one), in UID order: what CONDSTORE shows of a
// message, its flags and the modseq they were set at, read together.
func (s *Store) Changed(id uint64, ranges []UIDRange, since uint64) (highest uint64, msgs []Message, err error) {
	err = s.visibleView(id, func(tx *bolt.Tx) error {
		b, uids, m, err := loadMailbox(tx, id)
		if err != nil {
			return err
		}
		highest = m.HighestModSeq
		if since >= highest {
			return nil
		}
		if since > 0 {
			// What changed since, by the changes index (changes.go).
			cb := ChangeBatch{Mailbox: id}
			indexed, err := changesSince(b, uids, since, m.HighestModSeq, &cb)
			if err != nil {
				return err
			}
			if indexed {
				msgs = inRanges(cb.Records, ranges)
				return nil
			}
		}
		cur := uids.Cursor()
		for _, r := range ranges {
			for k, v := cur.Seek(uidKey(r.First)); k != nil && binary.BigEndian.Uint32(k) <= r.Last; k, v = cur.Next() {
				rec, err := decodeRecord(v)
				if err != nil {
					return err
				}
				if rec.ModSeq > since {
					msgs = append(msgs, rec)
				}
			}
		}
		return nil
	})
	return highest, msgs, err
}

// inRanges is the messages of msgs (in UID order) within ranges.
func inRanges(msgs []Message, ranges []UIDRange) []Message {
	var out []Message
	i := 0
	for _, m := range msgs {
		for i < len(ranges) && ranges[i].Last < m.UID {
			i++
		}
		if i == len(ranges) {
			break
		}
		if m.UID >= ranges[i].First {
			out = append(out, m)
		}
	}
	return out
}

// Vanished returns the UIDs within ranges (ascending, not overlapping) of
// the messages of mailbox id expunged after modseq since, in order: what
// QRESYNC's VANISHED (EARLIER) names. Tombstones are kept for ever.
func (s *Store) Vanished(id uint64, ranges []UIDRange, since uint64) ([]uint32, error) {
	var out []uint32
	err := s.visibleView(id, func(tx *bolt.Tx) error {
		b, _, _, err := loadMailbox(tx, id)
		if err != nil {
			return err
		}
		t := b.Bucket(keyExpunged)
		if t == nil {
			return nil
		}
		cur := t.Cursor()
		for _, r := range ranges {
			for k, v := cur.Seek(uidKey(r.First)); k != nil && binary.BigEndian.Uint32(k) <= r.Last; k, v = cur.Next() {
				if len(k) != 4 || len(v) != 8 {
					return fmt.Errorf("%w: mailbox %d: bad tombstone", ErrIO, id)
				}
				if binary.BigEndian.Uint64(v) > since {
					out = append(out, binary.BigEndian.Uint32(k))
				}
			}
		}
		return nil
	})
	return out, err
}
