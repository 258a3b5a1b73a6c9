package spool

import (
	"encoding/binary"
	"fmt"

	"github.com/emersion/go-imap/v2"
	bolt "go.etcd.io/bbolt"
)

// The record-level writes every op is made of. They keep the mailbox
// counters, the modseq and the body reference counts in step, so that no
// op can change one without the others.

// ref adds a reference to body guid, storing cache when the body is new to
// the index. A body's cache is computed from its content alone, so one
// computed by any writer of that content is right.
func (w *txn) ref(guid string, size int64, cache []byte) error {
	bodies := w.Bucket(bucketBodies)
	key := guidKey(guid)
	refs := uint32(0)
	if v := bodies.Get(key); len(v) == 12 {
		refs = binary.BigEndian.Uint32(v)
	} else {
		if err := w.placeNewBody(guid, size); err != nil {
			return err
		}
		w.stats.bytes += size
		if cache != nil {
			if err := w.Bucket(bucketCache).Put(key, cache); err != nil {
				return err
			}
		}
	}
	v := binary.BigEndian.AppendUint32(nil, refs+1)
	v = binary.BigEndian.AppendUint64(v, uint64(size))
	return bodies.Put(key, v)
}

// unref drops a reference to body guid; at zero the body leaves the index
// and its file (or inline copy) is removed after the commit.
func (w *txn) unref(guid string) error {
	bodies := w.Bucket(bucketBodies)
	key := guidKey(guid)
	v := bodies.Get(key)
	if len(v) != 12 {
		return fmt.Errorf("%w: body %s has no reference count", ErrIO, guid)
	}
	refs := binary.BigEndian.Uint32(v)
	if refs > 1 {
		nv := binary.BigEndian.AppendUint32(nil, refs-1)
		return bodies.Put(key, append(nv, v[4:]...))
	}
	if err := bodies.Delete(key); err != nil {
		return err
	}
	w.stats.bytes -= int64(binary.BigEndian.Uint64(v[4:]))
	if err := w.Bucket(bucketCache).Delete(key); err != nil {
		return err
	}
	if inlineSize(w.Tx, guid) >= 0 {
		if err := w.Bucket(bucketUnreferenced).Put(key, []byte{}); err != nil {
			return err
		}
	}
	// Pinned until the watchers of the commit have been told: one may
	// retain the body (Retain) for a client that still sees the message.
	w.s.pin(guid)
	w.dropped = append(w.dropped, guid)
	return nil
}

// hasBody reports whether the index already holds body guid.
func hasBody(tx *bolt.Tx, guid string) bool {
	return tx.Bucket(bucketBodies).Get(guidKey(guid)) != nil
}

// mailbox is one mailbox opened for writing inside an op. Its meta is
// written back by save.
type mailbox struct {
	b, uids *bolt.Bucket
	changes *bolt.Bucket // by modseq (changes.go)
	meta    mailboxMeta
	loaded  uint64 // HighestModSeq when the op opened it
	origin  string // this backend's id, for the lineage (see noteWriter)
	stats   *statsDelta
}

func (w *txn) mailbox(id uint64) (*mailbox, error) {
	b, uids, meta, err := loadMailbox(w.Tx, id)
	if err != nil {
		return nil, err
	}
	changes, err := changesOf(b, meta.HighestModSeq)
	if err != nil {
		return nil, err
	}
	return &mailbox{b: b, uids: uids, changes: changes, meta: meta, loaded: meta.HighestModSeq, origin: w.origin, stats: &w.stats}, nil
}

// bump gives the mailbox a new modseq for the change being made.
func (mb *mailbox) bump() uint64 {
	mb.meta.HighestModSeq++
	return mb.meta.HighestModSeq
}

// save writes the meta back; a local change also extends the lineage.
func (mb *mailbox) save() error {
	if mb.meta.HighestModSeq > mb.loaded {
		if err := mb.noteWriter(); err != nil {
			return err
		}
	}
	return mb.writeMeta()
}

// writeMeta writes the meta back as it is, and notes the changes index
// complete to its modseq.
func (mb *mailbox) writeMeta() error {
	if mb.changes != nil {
		if err := mb.b.Put(keyChangesUpTo, binary.BigEndian.AppendUint64(nil, mb.meta.HighestModSeq)); err != nil {
			return err
		}
	}
	return writeMeta(mb.b, &mb.meta)
}

// add stores m (its UID and ModSeq already set) and counts it.
func (mb *mailbox) add(m *Message) error {
	if err := mb.uids.Put(uidKey(m.UID), encodeRecord(m)); err != nil {
		return err
	}
	if err := mb.noteChange(m.ModSeq, m.UID, changeRecord, true); err != nil {
		return err
	}
	mb.meta.Messages++
	mb.stats.messages++
	mb.meta.Size += m.Size
	if !hasFlag(m.Flags, imap.FlagSeen) {
		mb.meta.Unseen++
	}
	if m.UID > mb.meta.MaxSeenUID {
		mb.meta.MaxSeenUID = m.UID
	}
	return nil
}

// remove deletes m's record and uncounts it.
func (mb *mailbox) remove(m *Message) error {
	if err := mb.uids.Delete(uidKey(m.UID)); err != nil {
		return err
	}
	if err := mb.noteChange(m.ModSeq, m.UID, changeRecord, false); err != nil {
		return err
	}
	mb.meta.Messages--
	mb.stats.messages--
	mb.meta.Size -= m.Size
	if !hasFlag(m.Flags, imap.FlagSeen) {
		mb.meta.Unseen--
	}
	return nil
}

// replace rewrites m's record after a flag change from old, the record
// as it was.
func (mb *mailbox) replace(m *Message, old Message) error {
	wasSeen, isSeen := hasFlag(old.Flags, imap.FlagSeen), hasFlag(m.Flags, imap.FlagSeen)
	switch {
	case wasSeen && !isSeen:
		mb.meta.Unseen++
	case !wasSeen && isSeen:
		mb.meta.Unseen--
	}
	if err := mb.noteChange(old.ModSeq, old.UID, changeRecord, false); err != nil {
		return err
	}
	if err := mb.noteChange(m.ModSeq, m.UID, changeRecord, true); err != nil {
		return err
	}
	return mb.uids.Put(uidKey(m.UID), encodeRecord(m))
}

// noteChange adds (or, with !add, removes) an entry of the changes index,
// when the mailbox has one.
func (mb *mailbox) noteChange(modseq uint64, uid uint32, kind byte, add bool) error {
	if mb.changes == nil {
		return nil
	}
	if add {
		return mb.changes.Put(changeKey(modseq, uid, kind), []byte{kind})
	}
	return mb.changes.Delete(changeKey(modseq, uid, kind))
}

// appendCopy adds a new record for body guid under the next UID of this
// mailbox's slot.
func (mb *mailbox) appendCopy(src Message, modseq uint64) (Message, error) {
	uid, err := mb.meta.nextUID()
	if err != nil {
		return Message{}, err
	}
	m := src
	m.UID, m.ModSeq = uid, modseq
	return m, mb.add(&m)
}

// records returns the records of uids that exist, in UID order; nil uids
// means every record.
func (mb *mailbox) records(uids []uint32) ([]Message, error) {
	var out []Message
	if uids == nil {
		err := mb.uids.ForEach(func(_, v []byte) error {
			m, err := decodeRecord(v)
			out = append(out, m)
			return err
		})
		return out, err
	}
	for _, uid := range sortedUnique(uids) {
		m, ok, err := getRecord(mb.uids, uid)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, m)
		}
	}
	return out, nil
}
