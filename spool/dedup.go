package spool

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"slices"
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

// MaxDeliveryID bounds a delivery id, which each message it stored keeps.
const MaxDeliveryID = 64

// A mailbox's delivery records: by delivery (id and body guid, for the
// lookup) and by the second they were made (for the expiry, oldest first).
var (
	keyDeliveries     = []byte("deliveries")
	keyDeliveryTimes  = []byte("delivery-times")
	maxExpiredPerCall = 256 // bounds the expiry work one delivery does
)

// DeliverOnce is DeliverAdmitted for a delivery named id (empty: not
// named, as DeliverAdmitted). A mailbox that already holds the same body
// under the same id within DedupWindow gets that message back in its
// Delivery, Duplicate set, and is not changed.
func (s *Store) DeliverOnce(ctx context.Context, id string, mailboxes []uint64, body io.Reader, date time.Time, admit Admit) ([]Delivery, error) {
	return s.deliverNamed(ctx, id, mailboxes, body, date, nil, admit)
}

// deliveryKey names one delivery of one body: the same id with another
// body is another delivery.
func deliveryKey(id, guid string) []byte {
	return append(append([]byte(id), 0), guid...)
}

// priorDelivery forgets the expired records of mb's deliveries, a bounded
// number a call, and returns the UID that delivery id of guid was given,
// if it is remembered.
func (mb *mailbox) priorDelivery(now time.Time, id, guid string) (uint32, bool, error) {
	if err := mb.expireDeliveries(now); err != nil {
		return 0, false, err
	}
	byKey := mb.b.Bucket(keyDeliveries)
	if byKey == nil {
		return 0, false, nil
	}
	v := byKey.Get(deliveryKey(id, guid))
	if len(v) != 12 || binary.BigEndian.Uint64(v) < uint64(now.Add(-DedupWindow).Unix()) {
		return 0, false, nil
	}
	return binary.BigEndian.Uint32(v[8:]), true, nil
}

// expireDeliveries forgets the records of mb's deliveries older than
// DedupWindow, at most maxExpiredPerCall of them.
func (mb *mailbox) expireDeliveries(now time.Time) error {
	byKey, byTime := mb.b.Bucket(keyDeliveries), mb.b.Bucket(keyDeliveryTimes)
	if byKey == nil || byTime == nil {
		return nil
	}
	oldest := uint64(now.Add(-DedupWindow).Unix())
	var expired [][]byte
	c := byTime.Cursor()
	for k, _ := c.First(); k != nil && len(expired) < maxExpiredPerCall; k, _ = c.Next() {
		if len(k) >= 8 && binary.BigEndian.Uint64(k) >= oldest {
			break
		}
		expired = append(expired, bytes.Clone(k))
	}
	// Deleted after the walk: a bbolt cursor that deletes as it goes may
	// step over the next key.
	for _, k := range expired {
		if err := byTime.Delete(k); err != nil {
			return err
		}
		if len(k) > 8 {
			if err := byKey.Delete(k[8:]); err != nil {
				return err
			}
		}
	}
	return nil
}

// noteDelivery records that delivery id of guid gave uid.
func (mb *mailbox) noteDelivery(now time.Time, id, guid string, uid uint32) error {
	byKey, err := mb.b.CreateBucketIfNotExists(keyDeliveries)
	if err != nil {
		return err
	}
	byTime, err := mb.b.CreateBucketIfNotExists(keyDeliveryTimes)
	if err != nil {
		return err
	}
	// bbolt keeps the slices until the commit: each is a buffer of its own.
	k := deliveryKey(id, guid)
	v := make([]byte, 12)
	binary.BigEndian.PutUint64(v, uint64(now.Unix()))
	binary.BigEndian.PutUint32(v[8:], uid)
	if err := byKey.Put(k, v); err != nil {
		return err
	}
	return byTime.Put(append(slices.Clone(v[:8]), k...), nil)
}

// deliveriesOf returns the delivery keys of records.
func deliveriesOf(records []Message) map[string]bool {
	keys := make(map[string]bool)
	for _, m := range records {
		if m.Delivery != "" {
			keys[string(deliveryKey(m.Delivery, m.GUID))] = true
		}
	}
	return keys
}

// madeDelivery reports whether mb holds or held the delivery that stored
// m, and keeps it: ours (deliveriesOf the records that stay) has the
// same delivery id and body, or mb remembers that delivery at a UID other
// than those in going (expunged since, by this copy's clients).
func (mb *mailbox) madeDelivery(now time.Time, ours map[string]bool, going map[uint32]bool, m Message) (bool, error) {
	if ours[string(deliveryKey(m.Delivery, m.GUID))] {
		return true, nil
	}
	uid, seen, err := mb.priorDelivery(now, m.Delivery, m.GUID)
	return seen && !going[uid], err
}
