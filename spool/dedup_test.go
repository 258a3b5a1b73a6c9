package spool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
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

// TestDeliveryIDInRecord: a record keeps the id of the delivery that
// stored it, a record without one reads as before, and a record whose
// trailing field is cut short is refused.
func TestDeliveryIDInRecord(t *testing.T) {
	m := Message{UID: 9, GUID: strings.Repeat("ab", 32), Flags: []imap.Flag{imap.FlagSeen}, ModSeq: 3,
		InternalDate: time.Unix(1700000000, 0).UTC(), Size: 42}
	for _, id := range []string{"", "rk-0123456789abcdef01234567"} {
		m.Delivery = id
		got, err := decodeRecord(encodeRecord(&m))
		if err != nil || got.Delivery != id || got.UID != m.UID || got.GUID != m.GUID || !slices.Equal(got.Flags, m.Flags) {
			t.Fatalf("delivery %q: decoded %+v, %v", id, got, err)
		}
	}
	b := encodeRecord(&m)
	if _, err := decodeRecord(b[:len(b)-1]); err == nil {
		t.Fatal("a record whose delivery id is cut short was read")
	}
}

// TestMergeTakesADeliveryOnce: a delivery made on both sides of a split
// (a deposed primary stored it, then the proxy's second try stored it on
// the new one) is one message after the merge; other deliveries and
// appends of the other side are adopted.
func TestMergeTakesADeliveryOnce(t *testing.T) {
	n, p := openStore(t, t.TempDir()), openStore(t, t.TempDir())
	mustCreate(t, n, 1, 2, 0)
	mustCreate(t, p, 1, 2, 1)
	deliverOnce(t, p, "rk-1", testBody(1), 1)
	deliverOnce(t, p, "rk-2", testBody(2), 1)
	mustAppend(t, p, 1, testBody(3))
	deliverOnce(t, n, "rk-1", testBody(1), 1)
	deliverOnce(t, n, "rk-3", testBody(1), 1) // the same body, another delivery
	theirs, err := p.Messages(1)
	if err != nil {
		t.Fatal(err)
	}
	importAll(t, p, n, theirs)
	st, _ := p.ReplicaState(1)
	rep, err := n.MergeForeign(1, theirs, nil, st.MaxSeenUID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Duplicates) != 1 || rep.Duplicates[0] != theirs[0].UID {
		t.Fatalf("duplicates %v, want [%d]", rep.Duplicates, theirs[0].UID)
	}
	got, _ := n.Messages(1)
	count := map[string]int{}
	for _, m := range got {
		count[m.Delivery]++
	}
	if len(got) != 4 || count["rk-1"] != 1 || count["rk-2"] != 1 || count["rk-3"] != 1 || count[""] != 1 {
		t.Fatalf("after the merge: %d messages, by delivery %v", len(got), count)
	}
	// The adopted delivery is remembered: its second try is not stored.
	if ds := deliverOnce(t, n, "rk-2", testBody(2), 1); !ds[0].Duplicate {
		t.Fatalf("a delivery adopted by the merge was made again: %+v", ds[0])
	}
	mustVerify(t, n)
}

// TestMergeSkipsAnExpungedDelivery: a delivery made here and expunged since
// does not come back from the other side's copy of it.
func TestMergeSkipsAnExpungedDelivery(t *testing.T) {
	n, p := openStore(t, t.TempDir()), openStore(t, t.TempDir())
	mustCreate(t, n, 1, 2, 0)
	mustCreate(t, p, 1, 2, 1)
	deliverOnce(t, p, "rk-1", testBody(1), 1)
	deliverOnce(t, n, "rk-1", testBody(1), 1)
	if _, _, err := n.StoreFlags(1, nil, FlagsAdd, []imap.Flag{imap.FlagDeleted}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Expunge(1, nil); err != nil {
		t.Fatal(err)
	}
	theirs, _ := p.Messages(1)
	importAll(t, p, n, theirs)
	st, _ := p.ReplicaState(1)
	if _, err := n.MergeForeign(1, theirs, nil, st.MaxSeenUID); err != nil {
		t.Fatal(err)
	}
	if got, _ := n.Messages(1); len(got) != 0 {
		t.Fatalf("an expunged delivery came back: %+v", got)
	}
}

// TestReplicaRemembersDeliveries: a replica that becomes primary finds a
// delivery its old primary made, when the proxy tries it again there.
func TestReplicaRemembersDeliveries(t *testing.T) {
	p, r := openStore(t, t.TempDir()), openStore(t, t.TempDir())
	p.SetOrigin("b1")
	mustCreate(t, p, 1, 2, 0)
	first := deliverOnce(t, p, "rk-1", testBody(1), 1)
	if err := ship(t, p, r, 1, 1, false); err != nil {
		t.Fatal(err)
	}
	r.SetOrigin("b2")
	again := deliverOnce(t, r, "rk-1", testBody(1), 1)
	if !again[0].Duplicate || again[0].Message.UID != first[0].Message.UID {
		t.Fatalf("the new primary made the delivery again: %+v", again[0])
	}
	if got, _ := r.Messages(1); len(got) != 1 {
		t.Fatalf("the new primary holds %d messages", len(got))
	}
}

// TestCopyIsNotADelivery: a message copied to another mailbox does not
// carry the delivery id, so a delivery to that mailbox under the id is
// made.
func TestCopyIsNotADelivery(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustCreate(t, s, 1, 1, 0)
	mustCreate(t, s, 2, 1, 0)
	ds := deliverOnce(t, s, "rk-1", testBody(1), 1)
	if _, err := s.Copy(context.Background(), 1, []uint32{ds[0].Message.UID}, 2); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Messages(2); len(got) != 1 || got[0].Delivery != "" {
		t.Fatalf("the copy: %+v", got)
	}
	if again := deliverOnce(t, s, "rk-1", testBody(1), 2); again[0].Duplicate {
		t.Fatalf("a copy was taken for the delivery: %+v", again[0])
	}
}

// importAll gives dst the bodies of records held by src.
func importAll(t *testing.T, src, dst *Store, records []Message) {
	t.Helper()
	for _, m := range records {
		f, err := src.Body(m.GUID)
		if err != nil {
			t.Fatal(err)
		}
		release, err := dst.ImportBody(context.Background(), m.GUID, f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(release)
	}
}

// TestRecordSkipsUnknownFields: an optional field this version does not
// know is stepped over.
func TestRecordSkipsUnknownFields(t *testing.T) {
	m := Message{UID: 3, GUID: strings.Repeat("cd", 32), InternalDate: time.Unix(1700000000, 0).UTC(), Size: 7, Delivery: "rk-1"}
	b := append(encodeRecord(&m), 'z', 0, 2, 'h', 'i')
	got, err := decodeRecord(b)
	if err != nil || got.Delivery != "rk-1" || got.UID != 3 {
		t.Fatalf("decoded %+v, %v", got, err)
	}
}

// TestMergeKeepsADeliveryTheyExpunged: a delivery made on both sides whose
// copy here the other side expunged is taken from theirs, not lost with
// the expunge.
func TestMergeKeepsADeliveryTheyExpunged(t *testing.T) {
	x, y := openStore(t, t.TempDir()), openStore(t, t.TempDir())
	x.SetOrigin("x")
	mustCreate(t, x, 1, 2, 0)
	v := deliverOnce(t, x, "rk-1", testBody(1), 1)[0].Message
	if err := ship(t, x, y, 1, 1, false); err != nil {
		t.Fatal(err)
	}
	// y, cut off and promoted, stores the delivery again past its
	// memory of it, and its user expunges the copy x also holds.
	y.SetOrigin("y")
	forgetDeliveries(t, y, 1)
	deliverOnce(t, y, "rk-1", testBody(1), 1)
	if _, _, err := y.StoreFlags(1, []uint32{v.UID}, FlagsAdd, []imap.Flag{imap.FlagDeleted}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := y.Expunge(1, nil); err != nil {
		t.Fatal(err)
	}
	theirs, _ := y.Messages(1)
	importAll(t, y, x, theirs)
	st, _ := y.ReplicaState(1)
	if _, err := x.MergeForeign(1, theirs, []uint32{v.UID}, st.MaxSeenUID); err != nil {
		t.Fatal(err)
	}
	if got, _ := x.Messages(1); len(got) != 1 || got[0].UID == v.UID {
		t.Fatalf("after the merge: %+v, want their copy alone", got)
	}
}

// TestReplicaNotesOnlyRecentDeliveries: a whole copy sent to a new replica
// does not fill its delivery records with deliveries past any second try.
func TestReplicaNotesOnlyRecentDeliveries(t *testing.T) {
	p, r := openStore(t, t.TempDir()), openStore(t, t.TempDir())
	p.SetOrigin("b1")
	mustCreate(t, p, 1, 2, 0)
	old := time.Now().Add(-DedupWindow - time.Minute)
	if _, err := p.DeliverOnce(context.Background(), "rk-old", []uint64{1}, strings.NewReader(testBody(1)), old, nil); err != nil {
		t.Fatal(err)
	}
	deliverOnce(t, p, "rk-new", testBody(2), 1)
	if err := ship(t, p, r, 1, 1, false); err != nil {
		t.Fatal(err)
	}
	r.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMailboxes).Bucket(idKey(1)).Bucket(keyDeliveries)
		sum := sha256.Sum256([]byte(testBody(2)))
		if b == nil || b.Stats().KeyN != 1 || b.Get(deliveryKey("rk-new", hex.EncodeToString(sum[:]))) == nil {
			t.Errorf("the replica's delivery records are not the recent delivery alone")
		}
		return nil
	})
}

// forgetDeliveries drops mailbox id's delivery records, as their expiry
// would.
func forgetDeliveries(t *testing.T, s *Store, id uint64) {
	t.Helper()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMailboxes).Bucket(idKey(id))
		for _, k := range [][]byte{keyDeliveries, keyDeliveryTimes} {
			if b.Bucket(k) == nil {
				continue
			}
			if err := b.DeleteBucket(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
