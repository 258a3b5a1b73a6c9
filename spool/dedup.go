package spool

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"time"
)

// A delivery may reach the store twice: an LMTP proxy whose connection
// failed after the backend committed, before the replies came back, sends
// the transaction again. DeliverOnce takes the transaction's delivery id
// and records it with each mailbox it stored the message in, in the same
// index transaction; the same id with the same body within DedupWindow
// finds the message already there and stores nothing.

// DedupWindow is how long a delivery id is remembered.
const DedupWindow = 10 * time.Minute

var keyDeliveries = []byte("deliveries")

// DeliverOnce is DeliverAdmitted for a delivery named id (empty: not
// named, as DeliverAdmitted). A mailbox that already holds the same body
// under the same id within DedupWindow gets that message back in its
// Delivery, Duplicate set, and is not changed.
func (s *Store) DeliverOnce(ctx context.Context, id string, mailboxes []uint64, body io.Reader, date time.Time, admit Admit) ([]Delivery, error) {
	return s.deliverNamed(ctx, id, mailboxes, body, date, nil, admit)
}

// deliveryKey orders a mailbox's delivery records by time, so that the
// expired ones are found first: the second it was stored, then id and the
// body's guid. The same id with another body is another delivery.
func deliveryKey(at time.Time, id, guid string) []byte {
	k := binary.BigEndian.AppendUint64(nil, uint64(at.Unix()))
	k = append(k, id...)
	k = append(k, 0)
	return append(k, guid...)
}

// priorDelivery finds, and forgets the expired of, the records of mb's
// deliveries: the UID that delivery id of guid was given, if it is known.
func (mb *mailbox) priorDelivery(now time.Time, id, guid string) (uint32, bool, error) {
	b := mb.b.Bucket(keyDeliveries)
	if b == nil {
		return 0, false, nil
	}
	oldest := uint64(now.Add(-DedupWindow).Unix())
	suffix := append(append([]byte(id), 0), guid...)
	var expired [][]byte
	var uid uint32
	found := false
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) < 8 || binary.BigEndian.Uint64(k) < oldest {
			expired = append(expired, bytes.Clone(k))
			continue
		}
		if bytes.Equal(k[8:], suffix) && len(v) >= 4 {
			uid, found = binary.BigEndian.Uint32(v), true
			break
		}
	}
	// Deleted after the walk: a bbolt cursor that deletes as it goes may
	// step over the next key.
	for _, k := range expired {
		if err := b.Delete(k); err != nil {
			return 0, false, err
		}
	}
	return uid, found, nil
}

// noteDelivery records that delivery id of guid gave uid.
func (mb *mailbox) noteDelivery(now time.Time, id, guid string, uid uint32) error {
	b, err := mb.b.CreateBucketIfNotExists(keyDeliveries)
	if err != nil {
		return err
	}
	return b.Put(deliveryKey(now, id, guid), binary.BigEndian.AppendUint32(nil, uid))
}
