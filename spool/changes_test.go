package spool

import (
	"context"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/emersion/go-imap/v2"
	bolt "go.etcd.io/bbolt"
)

// scanChanges is ChangesSince as a scan of every record and tombstone:
// what the changes index must give.
func scanChanges(t *testing.T, s *Store, id, since uint64) ChangeBatch {
	t.Helper()
	var cb ChangeBatch
	s.view(func(tx *bolt.Tx) error {
		b, uids, _, err := loadMailbox(tx, id)
		if err != nil {
			t.Fatal(err)
		}
		uids.ForEach(func(_, v []byte) error {
			if m, _ := decodeRecord(v); m.ModSeq > since {
				cb.Records = append(cb.Records, m)
			}
			return nil
		})
		if tb := b.Bucket(keyExpunged); tb != nil {
			tb.ForEach(func(k, v []byte) error {
				var ts Tombstone
				ts.UID, ts.ModSeq = uidOf(k), modseqOf(v)
				if ts.ModSeq > since {
					cb.Expunged = append(cb.Expunged, ts)
				}
				return nil
			})
		}
		return nil
	})
	return cb
}

func uidOf(k []byte) uint32 {
	return uint32(k[0])<<24 | uint32(k[1])<<16 | uint32(k[2])<<8 | uint32(k[3])
}
func modseqOf(v []byte) uint64 { return uint64(uidOf(v[:4]))<<32 | uint64(uidOf(v[4:])) }

// After random appends, flag changes, expunges, copies and moves, the
// changes since every modseq are those a scan finds, and Verify agrees
// with the index; a mailbox written before the index had it gets one at
// its next write.
func TestChangesIndex(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustCreate(t, s, 1, 2, 0)
	mustCreate(t, s, 2, 2, 0)
	rng := rand.New(rand.NewPCG(7, 7))
	ctx := context.Background()
	for i := range 300 {
		msgs, _ := s.Messages(1)
		var some []uint32
		for _, m := range msgs {
			if rng.IntN(4) == 0 {
				some = append(some, m.UID)
			}
		}
		switch rng.IntN(6) {
		case 0, 1:
			mustAppend(t, s, 1, testBody(i))
		case 2:
			s.StoreFlags(1, some, FlagsAdd, []imap.Flag{imap.FlagSeen}, 0)
		case 3:
			s.StoreFlags(1, some, FlagsAdd, []imap.Flag{imap.FlagDeleted}, 0)
			s.Expunge(1, some)
		case 4:
			s.Copy(ctx, 1, some, 2)
		case 5:
			s.Move(ctx, 1, some, 2)
		}
	}
	mustVerify(t, s)
	for _, id := range []uint64{1, 2} {
		st, _ := s.Status(id)
		for since := uint64(0); since <= st.HighestModSeq+1; since++ {
			got, err := s.ChangesSince(id, since, false)
			if err != nil {
				t.Fatal(err)
			}
			want := scanChanges(t, s, id, since)
			if !reflect.DeepEqual(got.Records, want.Records) || !reflect.DeepEqual(got.Expunged, want.Expunged) {
				t.Fatalf("mailbox %d since %d: index gives %d records, %d expunges; a scan %d, %d",
					id, since, len(got.Records), len(got.Expunged), len(want.Records), len(want.Expunged))
			}
		}
	}
	// As a binary without the index leaves one: records changed and
	// appended behind its back, so its note of where it is complete to is
	// behind the mailbox's modseq. It is not read, and the next write
	// builds it again.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		b, _ := mailboxBucket(tx, 1)
		if err := b.Bucket(keyChanges).Put(changeKey(1<<40, 77, changeRecord), []byte{changeRecord}); err != nil {
			return err
		}
		return b.Put(keyChangesUpTo, []byte{0, 0, 0, 0, 0, 0, 0, 1})
	}); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Status(1)
	got, err := s.ChangesSince(1, st.HighestModSeq-3, false)
	if want := scanChanges(t, s, 1, st.HighestModSeq-3); err != nil || !reflect.DeepEqual(got.Records, want.Records) {
		t.Fatalf("a stale index was read: %d records (%v), a scan finds %d", len(got.Records), err, len(want.Records))
	}
	mustAppend(t, s, 1, testBody(999))
	mustVerify(t, s) // rebuilt: the stray entry is gone
	// As a store written before the index: the next write builds it.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		b, _ := mailboxBucket(tx, 1)
		return b.DeleteBucket(keyChanges)
	}); err != nil {
		t.Fatal(err)
	}
	before, _ := s.ChangesSince(1, 0, false)
	mustAppend(t, s, 1, testBody(1000))
	mustVerify(t, s)
	after, _ := s.ChangesSince(1, 0, false)
	if len(after.Records) != len(before.Records)+1 {
		t.Fatalf("after the index was rebuilt: %d records, want %d", len(after.Records), len(before.Records)+1)
	}
}
