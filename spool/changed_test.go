package spool

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// Changed gives, for random UID ranges and modseqs, the records a filter
// of every record gives, by the changes index and by a scan alike.
func TestChanged(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustCreate(t, s, 1, 2, 0)
	rng := rand.New(rand.NewPCG(3, 9))
	for i := range 120 {
		mustAppend(t, s, 1, testBody(i))
		if i%3 == 0 {
			msgs, _ := s.Messages(1)
			m := msgs[rng.IntN(len(msgs))]
			if _, _, err := s.StoreFlags(1, []uint32{m.UID}, FlagsAdd, []imap.Flag{imap.FlagFlagged}, 0); err != nil {
				t.Fatal(err)
			}
		}
		if i%7 == 0 {
			msgs, _ := s.Messages(1)
			uid := msgs[rng.IntN(len(msgs))].UID
			s.StoreFlags(1, []uint32{uid}, FlagsAdd, []imap.Flag{imap.FlagDeleted}, 0)
			s.Expunge(1, []uint32{uid})
		}
	}
	all, _ := s.Messages(1)
	st, _ := s.Status(1)
	for trial := range 300 {
		var ranges []UIDRange
		next := uint32(1)
		for next < 300 && len(ranges) < 4 {
			first := next + uint32(rng.IntN(60))
			last := first + uint32(rng.IntN(80))
			ranges = append(ranges, UIDRange{first, last})
			next = last + 2
		}
		if trial%10 == 0 {
			ranges = []UIDRange{{1, ^uint32(0)}}
		}
		since := uint64(rng.IntN(int(st.HighestModSeq) + 2))
		highest, got, err := s.Changed(1, ranges, since)
		if err != nil {
			t.Fatal(err)
		}
		var want []Message
		for _, m := range all {
			for _, r := range ranges {
				if m.UID >= r.First && m.UID <= r.Last && m.ModSeq > since {
					want = append(want, m)
				}
			}
		}
		if highest != st.HighestModSeq || !reflect.DeepEqual(got, want) {
			t.Fatalf("ranges %v since %d: got %d records (highest %d), want %d (highest %d)",
				ranges, since, len(got), highest, len(want), st.HighestModSeq)
		}
	}
	if _, _, err := s.Changed(99, nil, 0); err == nil {
		t.Fatal("Changed of a mailbox that does not exist: no error")
	}
}

// Vanished names the expunges after a modseq within the ranges, as a scan
// of the changes does.
func TestVanished(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustCreate(t, s, 1, 2, 0)
	var uids []uint32
	for i := range 10 {
		uids = append(uids, mustAppend(t, s, 1, testBody(i)).UID)
	}
	expunge := func(some ...uint32) uint64 {
		s.StoreFlags(1, some, FlagsAdd, []imap.Flag{imap.FlagDeleted}, 0)
		if _, err := s.Expunge(1, some); err != nil {
			t.Fatal(err)
		}
		st, _ := s.Status(1)
		return st.HighestModSeq
	}
	first := expunge(uids[1], uids[2])
	expunge(uids[7])
	all := []UIDRange{{1, ^uint32(0)}}
	for _, tc := range []struct {
		ranges []UIDRange
		since  uint64
		want   []uint32
	}{
		{all, 0, []uint32{uids[1], uids[2], uids[7]}},
		{all, first, []uint32{uids[7]}},
		{[]UIDRange{{uids[2], uids[6]}}, 0, []uint32{uids[2]}},
		{[]UIDRange{{uids[0], uids[1]}, {uids[7], uids[9]}}, 0, []uint32{uids[1], uids[7]}},
		{all, first + 100, nil},
	} {
		got, err := s.Vanished(1, tc.ranges, tc.since)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Vanished(%v, %d) = %v, %v; want %v", tc.ranges, tc.since, got, err, tc.want)
		}
	}
}
