package spool

import (
	"context"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func deliverOnce(t *testing.T, s *Store, id string, body string, mailboxes ...uint64) []Delivery {
	t.Helper()
	ds, err := s.DeliverOnce(context.Background(), id, mailboxes, strings.NewReader(body), time.Time{}, nil)
	if err != nil {
		t.Fatalf("deliver %s: %v", id, err)
	}
	return ds
}

// TestDeliverOnce: a delivery sent again under its id stores nothing more
// and answers with the message it stored; another id, or another body
// under the same id, is another delivery.
func TestDeliverOnce(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustCreate(t, s, 1, 1, 0)
	mustCreate(t, s, 2, 1, 0)
	first := deliverOnce(t, s, "d-1", testBody(1), 1, 2)
	again := deliverOnce(t, s, "d-1", testBody(1), 1, 2)
	for i := range first {
		if first[i].Err != nil || first[i].Duplicate || !again[i].Duplicate || again[i].Message.UID != first[i].Message.UID || again[i].Message.GUID != first[i].Message.GUID {
			t.Fatalf("mailbox %d: first %+v, again %+v", first[i].Mailbox, first[i], again[i])
		}
	}
	if ds := deliverOnce(t, s, "d-2", testBody(1), 1); ds[0].Duplicate {
		t.Fatalf("another delivery id was taken for the first: %+v", ds[0])
	}
	if ds := deliverOnce(t, s, "d-1", testBody(2), 1); ds[0].Duplicate {
		t.Fatalf("another body under the same id was taken for the first: %+v", ds[0])
	}
	if ds := deliverOnce(t, s, "", testBody(1), 1); ds[0].Duplicate {
		t.Fatalf("an unnamed delivery was deduplicated: %+v", ds[0])
	}
	for id, want := range map[uint64]int{1: 4, 2: 1} {
		if msgs, _ := s.Messages(id); len(msgs) != want {
			t.Fatalf("mailbox %d holds %d messages, want %d", id, len(msgs), want)
		}
	}
	mustVerify(t, s)
}

// TestDeliverOnceForgets: a delivery id is remembered for DedupWindow,
// and a record older than that is removed when the mailbox is next looked
// at.
func TestDeliverOnceForgets(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustCreate(t, s, 1, 1, 0)
	ds := deliverOnce(t, s, "d-1", testBody(1), 1)
	// Age the record past the window.
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMailboxes).Bucket(idKey(1)).Bucket(keyDeliveries)
		old := time.Now().Add(-DedupWindow - time.Minute)
		var keys [][]byte
		b.ForEach(func(k, _ []byte) error { keys = append(keys, append([]byte(nil), k...)); return nil })
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return b.Put(deliveryKey(old, "d-1", ds[0].Message.GUID), []byte{0, 0, 0, 1})
	})
	if err != nil {
		t.Fatal(err)
	}
	if again := deliverOnce(t, s, "d-1", testBody(1), 1); again[0].Duplicate {
		t.Fatalf("a delivery id older than the window was remembered: %+v", again[0])
	}
	s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMailboxes).Bucket(idKey(1)).Bucket(keyDeliveries)
		if n := b.Stats().KeyN; n != 1 {
			t.Errorf("%d delivery records kept, want the new one only", n)
		}
		return nil
	})
}
