package spool

import (
	"context"
	"errors"
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
	// Age the record past the window: the same records, made earlier.
	old := time.Now().Add(-DedupWindow - time.Minute)
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMailboxes).Bucket(idKey(1))
		for _, k := range [][]byte{keyDeliveries, keyDeliveryTimes} {
			if err := b.DeleteBucket(k); err != nil {
				return err
			}
		}
		mb := &mailbox{b: b}
		return mb.noteDelivery(old, "d-1", ds[0].Message.GUID, ds[0].Message.UID)
	})
	if err != nil {
		t.Fatal(err)
	}
	if again := deliverOnce(t, s, "d-1", testBody(1), 1); again[0].Duplicate {
		t.Fatalf("a delivery id older than the window was remembered: %+v", again[0])
	}
	s.view(func(tx *bolt.Tx) error {
		for _, k := range [][]byte{keyDeliveries, keyDeliveryTimes} {
			b := tx.Bucket(bucketMailboxes).Bucket(idKey(1)).Bucket(k)
			if n := b.Stats().KeyN; n != 1 {
				t.Errorf("%s: %d records kept, want the new one only", k, n)
			}
		}
		return nil
	})
}

// TestDeliverOnceAsksTheReplicas: a delivery found already made is
// acknowledged only once the mailbox's replicas hold it, as the first
// attempt would have been (it may have died before they had it); and a
// refusal by Admit does not bounce a delivery already made.
func TestDeliverOnceAsksTheReplicas(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustCreate(t, s, 1, 1, 0)
	deliverOnce(t, s, "d-1", testBody(1), 1)

	var asked []uint64
	s.SetReplicator(func(_ context.Context, mailboxes []uint64) map[uint64]error {
		asked = append(asked, mailboxes...)
		return map[uint64]error{1: errors.New("replica unreachable")}
	})
	full := func(uint64, int64) error { return errors.New("over quota") }
	_, err := s.DeliverOnce(context.Background(), "d-1", []uint64{1}, strings.NewReader(testBody(1)), time.Time{}, full)
	if !errors.Is(err, ErrNotReplicated) || len(asked) != 1 || asked[0] != 1 {
		t.Fatalf("resent delivery with its replicas unreachable: %v (replicas asked for %v)", err, asked)
	}
	s.SetReplicator(nil)
	ds, err := s.DeliverOnce(context.Background(), "d-1", []uint64{1}, strings.NewReader(testBody(1)), time.Time{}, full)
	if err != nil || !ds[0].Duplicate || ds[0].Err != nil {
		t.Fatalf("resent delivery over quota: %+v %v", ds, err)
	}
	if msgs, _ := s.Messages(1); len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
}
