package spool

import (
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Each mailbox keeps its records and tombstones by modseq too (bucket
// changes: modseq be64, UID be32 -> kind), so that ChangesSince, which a
// primary runs for every batch it sends a replica, reads what changed
// since a modseq instead of every record of the mailbox. add, remove,
// replace and tombstone keep it; a mailbox written before it existed gets
// it at its first write, and is read by a scan until then.

var keyChanges = []byte("changes")

const (
	changeRecord    = 'r'
	changeTombstone = 't'
)

func changeKey(modseq uint64, uid uint32) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 12), modseq)
	return binary.BigEndian.AppendUint32(k, uid)
}

// changesOf returns mailbox bucket b's changes index, building it from
// the records and tombstones when b has none.
func changesOf(b *bolt.Bucket) (*bolt.Bucket, error) {
	if c := b.Bucket(keyChanges); c != nil {
		return c, nil
	}
	c, err := b.CreateBucket(keyChanges)
	if err != nil {
		return nil, err
	}
	err = b.Bucket(keyUIDs).ForEach(func(_, v []byte) error {
		m, err := decodeRecord(v)
		if err != nil {
			return err
		}
		return c.Put(changeKey(m.ModSeq, m.UID), []byte{changeRecord})
	})
	if err != nil {
		return nil, err
	}
	if t := b.Bucket(keyExpunged); t != nil {
		err = t.ForEach(func(k, v []byte) error {
			if len(k) != 4 || len(v) != 8 {
				return fmt.Errorf("%w: bad tombstone", ErrIO)
			}
			return c.Put(changeKey(binary.BigEndian.Uint64(v), binary.BigEndian.Uint32(k)), []byte{changeTombstone})
		})
	}
	return c, err
}

// changesSince fills cb's records and expunges after modseq since from
// the changes index of b, in UID order; false when b has no index yet.
func changesSince(b, uids *bolt.Bucket, since uint64, cb *ChangeBatch) (bool, error) {
	c := b.Bucket(keyChanges)
	if c == nil {
		return false, nil
	}
	cur := c.Cursor()
	for k, v := cur.Seek(changeKey(since+1, 0)); k != nil; k, v = cur.Next() {
		if len(k) != 12 || len(v) != 1 {
			return true, fmt.Errorf("%w: mailbox %d: bad change entry", ErrIO, cb.Mailbox)
		}
		modseq, uid := binary.BigEndian.Uint64(k), binary.BigEndian.Uint32(k[8:])
		switch v[0] {
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
			return true, fmt.Errorf("%w: mailbox %d: change entry of kind %q", ErrIO, cb.Mailbox, v[0])
		}
	}
	slices.SortFunc(cb.Records, func(a, b Message) int { return cmpUID(a.UID, b.UID) })
	slices.SortFunc(cb.Expunged, func(a, b Tombstone) int { return cmpUID(a.UID, b.UID) })
	return true, nil
}

func cmpUID(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// verifyChanges checks that b's changes index, if it has one, names each
// record and tombstone at its modseq and nothing else.
func verifyChanges(id uint64, b *bolt.Bucket) error {
	c := b.Bucket(keyChanges)
	if c == nil {
		return nil
	}
	want := make(map[string]byte)
	b.Bucket(keyUIDs).ForEach(func(_, v []byte) error {
		if m, err := decodeRecord(v); err == nil {
			want[string(changeKey(m.ModSeq, m.UID))] = changeRecord
		}
		return nil
	})
	if t := b.Bucket(keyExpunged); t != nil {
		t.ForEach(func(k, v []byte) error {
			if len(k) == 4 && len(v) == 8 {
				want[string(changeKey(binary.BigEndian.Uint64(v), binary.BigEndian.Uint32(k)))] = changeTombstone
			}
			return nil
		})
	}
	n := 0
	var bad error
	c.ForEach(func(k, v []byte) error {
		n++
		if len(k) != 12 {
			bad = fmt.Errorf("mailbox %d: changes index has a key of %d bytes", id, len(k))
			return nil
		}
		if kind, ok := want[string(k)]; !ok || len(v) != 1 || v[0] != kind {
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
