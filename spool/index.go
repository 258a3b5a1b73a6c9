package spool

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/emersion/go-imap/v2"
	bolt "go.etcd.io/bbolt"
)

// Index layout in bbolt:
//
//	mailboxes/<id be64>/meta          mailboxMeta
//	mailboxes/<id be64>/recent        be32, the recent mark (recent.go)
//	mailboxes/<id be64>/uids/<uid be32> record
//	mailboxes/<id be64>/changes/<modseq be64><uid be32><kind>  kind, 'r' or 't' (changes.go)
//	mailboxes/<id be64>/changes-upto  be64, the modseq the index is complete to
//	quarantine/<id be64><unix ns be64>/...  a mailbox set aside, as above, plus "reason"
//	bodies/<sha256 32 bytes>          refcount be32, size be64
//	cache/<sha256 32 bytes>           envelope and body structure, JSON
//	inline/<sha256 32 bytes>          the body itself, when small (inline.go)
//	unreferenced/<sha256 32 bytes>    empty: an inline body whose last reference went, until removed
var (
	bucketCache      = []byte("cache")
	bucketMailboxes  = []byte("mailboxes")
	bucketQuarantine = []byte("quarantine")
	bucketBodies     = []byte("bodies")
	bucketInline     = []byte("inline")
	// bucketUnreferenced lists the inline bodies whose last reference
	// went and that are not yet removed, so that Open finds what a crash
	// left without reading every inline body.
	bucketUnreferenced = []byte("unreferenced")
	keyMeta            = []byte("meta")
	keyUIDs            = []byte("uids")
	keyReason          = []byte("reason")
)

const encodingVersion = 1

// mailboxMeta is the stored state of one mailbox. The counters let Status
// answer without reading every record.
type mailboxMeta struct {
	MailboxMeta
	MaxSeenUID    uint32 // highest UID ever held, by any slot
	HighestModSeq uint64
	Messages      uint32
	Unseen        uint32
	Size          int64
}

const metaLen = 1 + 4*4 + 8 + 4 + 4 + 8

func (m *mailboxMeta) encode() []byte {
	b := make([]byte, 0, metaLen)
	b = append(b, encodingVersion)
	b = binary.BigEndian.AppendUint32(b, m.UIDValidity)
	b = binary.BigEndian.AppendUint32(b, m.Stride)
	b = binary.BigEndian.AppendUint32(b, m.Slot)
	b = binary.BigEndian.AppendUint32(b, m.MaxSeenUID)
	b = binary.BigEndian.AppendUint64(b, m.HighestModSeq)
	b = binary.BigEndian.AppendUint32(b, m.Messages)
	b = binary.BigEndian.AppendUint32(b, m.Unseen)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Size))
	return b
}

func decodeMeta(id uint64, b []byte) (mailboxMeta, error) {
	if len(b) != metaLen || b[0] != encodingVersion {
		return mailboxMeta{}, fmt.Errorf("%w: mailbox %d: bad meta record", ErrIO, id)
	}
	be := binary.BigEndian
	m := mailboxMeta{MailboxMeta: MailboxMeta{ID: id}}
	m.UIDValidity = be.Uint32(b[1:])
	m.Stride = be.Uint32(b[5:])
	m.Slot = be.Uint32(b[9:])
	m.MaxSeenUID = be.Uint32(b[13:])
	m.HighestModSeq = be.Uint64(b[17:])
	m.Messages = be.Uint32(b[25:])
	m.Unseen = be.Uint32(b[29:])
	m.Size = int64(be.Uint64(b[33:]))
	return m, nil
}

// nextUID is the smallest UID above every UID the mailbox has seen that
// lies in this backend's slot: u % Stride == Slot, u > 0. Two backends
// with different slots of one mailbox can thus never assign the same UID.
func (m *mailboxMeta) nextUID() (uint32, error) {
	stride, slot := uint64(m.Stride), uint64(m.Slot)
	if stride == 0 || slot >= stride {
		return 0, fmt.Errorf("%w: mailbox %d: slot %d of %d", ErrInvalidMeta, m.ID, slot, stride)
	}
	u := uint64(m.MaxSeenUID) + 1
	if r := u % stride; r <= slot {
		u += slot - r
	} else {
		u += stride - r + slot
	}
	if u > 0xFFFFFFFF {
		return 0, fmt.Errorf("%w: mailbox %d", ErrUIDsExhausted, m.ID)
	}
	return uint32(u), nil
}

// uidNext is nextUID for STATUS: where UIDs are exhausted it says so by
// returning the largest UID, which no message will get.
func (m *mailboxMeta) uidNext() uint32 {
	u, err := m.nextUID()
	if err != nil {
		return 0xFFFFFFFF
	}
	return u
}

func idKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

func uidKey(uid uint32) []byte { return binary.BigEndian.AppendUint32(nil, uid) }

// encodeRecord stores m; the internal date keeps its zone offset, since
// IMAP shows it to clients.
func encodeRecord(m *Message) []byte {
	raw, _ := hex.DecodeString(m.GUID)
	b := make([]byte, 0, 64+16*len(m.Flags))
	b = append(b, encodingVersion)
	b = binary.BigEndian.AppendUint32(b, m.UID)
	b = binary.BigEndian.AppendUint64(b, m.ModSeq)
	b = binary.BigEndian.AppendUint64(b, uint64(m.InternalDate.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(m.InternalDate.Nanosecond()))
	_, off := m.InternalDate.Zone()
	b = binary.BigEndian.AppendUint32(b, uint32(int32(off)))
	b = binary.BigEndian.AppendUint64(b, uint64(m.Size))
	b = append(b, raw...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Flags)))
	for _, f := range m.Flags {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	if m.Delivery != "" {
		b = append(b, recordDelivery)
		b = binary.BigEndian.AppendUint16(b, uint16(len(m.Delivery)))
		b = append(b, m.Delivery...)
	}
	if m.SavedAt != 0 {
		b = append(b, recordSavedAt)
		b = binary.BigEndian.AppendUint16(b, 8)
		b = binary.BigEndian.AppendUint64(b, uint64(m.SavedAt))
	}
	return b
}

// recordSavedAt tags the optional field that holds a record's SavedAt.
const recordSavedAt = 's'

// recordDelivery tags the optional field after a record's flags that
// holds its Delivery. A record without it ends at its flags, as records
// written before the field existed do.
const recordDelivery = 'd'

const recordFixedLen = 1 + 4 + 8 + 8 + 4 + 4 + 8 + 32 + 2

func decodeRecord(b []byte) (Message, error) {
	bad := fmt.Errorf("%w: bad message record", ErrIO)
	if len(b) < recordFixedLen || b[0] != encodingVersion {
		return Message{}, bad
	}
	be := binary.BigEndian
	var m Message
	m.UID = be.Uint32(b[1:])
	m.ModSeq = be.Uint64(b[5:])
	sec, nsec, off := int64(be.Uint64(b[13:])), int64(be.Uint32(b[21:])), int(int32(be.Uint32(b[25:])))
	m.InternalDate = time.Unix(sec, nsec).In(zone(off))
	m.Size = int64(be.Uint64(b[29:]))
	m.GUID = hex.EncodeToString(b[37:69])
	n := int(be.Uint16(b[69:]))
	rest := b[recordFixedLen:]
	m.Flags = make([]imap.Flag, 0, n)
	for i := 0; i < n; i++ {
		if len(rest) < 2 || len(rest) < 2+int(be.Uint16(rest)) {
			return Message{}, bad
		}
		l := int(be.Uint16(rest))
		m.Flags = append(m.Flags, imap.Flag(rest[2:2+l]))
		rest = rest[2+l:]
	}
	// Optional fields: a tag, a 16-bit length, the value. A tag this
	// version does not know is stepped over, so a record written by a
	// later one still reads.
	for len(rest) > 0 {
		if len(rest) < 3 || len(rest) < 3+int(be.Uint16(rest[1:])) {
			return Message{}, bad
		}
		l := int(be.Uint16(rest[1:]))
		switch {
		case rest[0] == recordDelivery:
			m.Delivery = string(rest[3 : 3+l])
		case rest[0] == recordSavedAt && l == 8:
			m.SavedAt = int64(be.Uint64(rest[3:]))
		}
		rest = rest[3+l:]
	}
	return m, nil
}

func zone(off int) *time.Location {
	if off == 0 {
		return time.UTC
	}
	return time.FixedZone("", off)
}

// mailboxBucket returns the bucket of mailbox id, or ErrNoMailbox.
func mailboxBucket(tx *bolt.Tx, id uint64) (*bolt.Bucket, error) {
	b := tx.Bucket(bucketMailboxes).Bucket(idKey(id))
	if b == nil {
		return nil, fmt.Errorf("%w: %d", ErrNoMailbox, id)
	}
	return b, nil
}

func readMeta(b *bolt.Bucket, id uint64) (mailboxMeta, error) {
	return decodeMeta(id, b.Get(keyMeta))
}

func writeMeta(b *bolt.Bucket, m *mailboxMeta) error {
	return b.Put(keyMeta, m.encode())
}

// loadMailbox reads mailbox id's meta and its records bucket.
func loadMailbox(tx *bolt.Tx, id uint64) (*bolt.Bucket, *bolt.Bucket, mailboxMeta, error) {
	b, err := mailboxBucket(tx, id)
	if err != nil {
		return nil, nil, mailboxMeta{}, err
	}
	m, err := readMeta(b, id)
	if err != nil {
		return nil, nil, mailboxMeta{}, err
	}
	uids := b.Bucket(keyUIDs)
	if uids == nil {
		return nil, nil, mailboxMeta{}, fmt.Errorf("%w: mailbox %d has no records bucket", ErrIO, id)
	}
	return b, uids, m, nil
}

func getRecord(uids *bolt.Bucket, uid uint32) (Message, bool, error) {
	v := uids.Get(uidKey(uid))
	if v == nil {
		return Message{}, false, nil
	}
	m, err := decodeRecord(v)
	return m, err == nil, err
}
