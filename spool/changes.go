package spool

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Each mailbox keeps its records and tombstones by modseq too (bucket
// changes: modseq be64, UID be32, kind -> kind), so that ChangesSince,
// which a primary runs for every batch it sends a replica, reads what
// changed since a modseq instead of every record of the mailbox. add,
// remove, replace and tombstone keep it, and save notes in the mailbox
// the highest modseq it is complete to (changes-upto): an index that a
// binary without it left behind (its writes bump the modseq and not the
// note) is rebuilt at the next write and not read before. A mailbox
// without a usable index (one written before it existed, or whose records
// do not decode) is read by a scan.

var (
	keyChanges     = []byte("changes")
	keyChangesUpTo = []byte("changes-upto")
)

const (
	changeRecord    = 'r'
	changeTombstone = 't'
)

// changeKey names a record's or a tombstone's change: the kind is part of
// the key, as a UID's tombstone and its record again (a copy made whole
// from its primary) may share a modseq.
func changeKey(modseq uint64, uid uint32, kind byte) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 13), modseq)
	return append(binary.BigEndian.AppendUint32(k, uid), kind)
}

// changesCurrent reports whether b's changes index is complete to the
// mailbox's highest modseq.
func changesCurrent(b *bolt.Bucket, highest uint64) bool {
	v := b.Get(keyChangesUpTo)
	return b.Bucket(keyChanges) != nil && len(v) == 8 && binary.BigEndian.Uint64(v) == highest
}

// changesOf returns mailbox bucket b's changes index, building it anew
// from the records and tombstones when b has none or a stale one; nil
// when a record or tombstone does not decode (the mailbox then goes
// without: Verify reports the record).
func changesOf(b *bolt.Bucket, highest uint64) (*bolt.Bucket, error) {
	if changesCurrent(b, highest) {
		return b.Bucket(keyChanges), nil
	}
	if b.Bucket(keyChanges) != nil {
		if err := b.DeleteBucket(keyChanges); err != nil {
			return nil, err
		}
	}
	c, err := b.CreateBucket(keyChanges)
	if err != nil {
		return nil, err
	}
	bad := false
	b.Bucket(keyUIDs).ForEach(func(_, v []byte) error {
		m, err := decodeRecord(v)
		if err != nil {
			bad = true
			return err
		}
		return c.Put(changeKey(m.ModSeq, m.UID, changeRecord), []byte{changeRecord})
	})
	if t := b.Bucket(keyExpunged); t != nil && !bad {
		t.ForEach(func(k, v []byte) error {
			if len(k) != 4 || len(v) != 8 {
				bad = true
				return fmt.Errorf("%w: bad tombstone", ErrIO)
			}
			return c.Put(changeKey(binary.BigEndian.Uint64(v), binary.BigEndian.Uint32(k), changeTombstone), []byte{changeTombstone})
		})
	}
	if bad {
		return nil, b.DeleteBucket(keyChanges)
	}
	return c, b.Put(keyChangesUpTo, binary.BigEndian.AppendUint64(nil, highest))
}

// changesSince fills cb's records and expunges after modseq since from
// the changes index of b, in UID order; false when b has no current index.
func changesSince(b, uids *bolt.Bucket, since, highest uint64, cb *ChangeBatch) (bool, error) {
	if !changesCurrent(b, highest) {
		return false, nil
	}
	if since == math.MaxUint64 {
		return true, nil
	}
	cur := b.Bucket(keyChanges).Cursor()
	for k, _ := cur.Seek(changeKey(since+1, 0, 0)); k != nil; k, _ = cur.Next() {
		if len(k) != 13 {
			return true, fmt.Errorf("%w: mailbox %d: bad change entry", ErrIO, cb.Mailbox)
		}
		modseq, uid := binary.BigEndian.Uint64(k), binary.BigEndian.Uint32(k[8:])
		switch k[12] {
		case changeRecord:
			m, ok, err := getRecord(uids, uid)
			if err != nil {
				return true, err
			}
			if !ok || m.ModSeq != modseq {
				return true, fmt.Errorf("%w: mailbox %d: change of uid %d at modseq %d has no such record", ErrIO, cb.Mailbox, uid, modseq)
			}
			cb.Records = append(cb.Records, m)
		case changeTombstone:
			cb.Expunged = append(cb.Expunged, Tombstone{UID: uid, ModSeq: modseq})
		default:
			return true, fmt.Errorf("%w: mailbox %d: change entry of kind %q", ErrIO, cb.Mailbox, k[12])
		}
	}
	slices.SortFunc(cb.Records, func(a, b Message) int { return cmp.Compare(a.UID, b.UID) })
	slices.SortFunc(cb.Expunged, func(a, b Tombstone) int { return cmp.Compare(a.UID, b.UID) })
	return true, nil
}

// verifyChanges checks that b's changes index, if it has a current one,
// names each record and tombstone at its modseq and nothing else.
func verifyChanges(id uint64, b *bolt.Bucket, highest uint64) error {
	if !changesCurrent(b, highest) {
		return nil
	}
	want := make(map[string]bool)
	b.Bucket(keyUIDs).ForEach(func(_, v []byte) error {
		if m, err := decodeRecord(v); err == nil {
			want[string(changeKey(m.ModSeq, m.UID, changeRecord))] = true
		}
		return nil
	})
	if t := b.Bucket(keyExpunged); t != nil {
		t.ForEach(func(k, v []byte) error {
			if len(k) == 4 && len(v) == 8 {
				want[string(changeKey(binary.BigEndian.Uint64(v), binary.BigEndian.Uint32(k), changeTombstone))] = true
			}
			return nil
		})
	}
	n := 0
	var bad error
	b.Bucket(keyChanges).ForEach(func(k, _ []byte) error {
		n++
		if len(k) != 13 {
			bad = fmt.Errorf("mailbox %d: changes index has a key of %d bytes", id, len(k))
		} else if !want[string(k)] {
			bad = fmt.Errorf("mailbox %d: changes index has an entry at modseq %d, uid %d that no record or tombstone matches",
				id, binary.BigEndian.Uint64(k), binary.BigEndian.Uint32(k[8:]))
		}
		return nil
	})
	if bad == nil && n != len(want) {
		bad = fmt.Errorf("mailbox %d: changes index has %d entries, records and tombstones %d", id, n, len(want))
	}
	return bad
}
