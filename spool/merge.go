package spool

import (
	"fmt"
	"slices"
	"time"
)

// MergeReport says what MergeForeign did: records adopted under their own
// UIDs, records renumbered (Src is the UID the record had on the copy it
// came from, or here; Dst is its UID now), and records of ours expunged
// because the other copy expunged them.
type MergeReport struct {
	Adopted    []uint32
	Renumbered []UIDPair
	Expunged   []uint32
	// Duplicates are their UIDs of deliveries this copy had made too
	// (Message.Delivery): not added.
	Duplicates []uint32
}

// MergeForeign merges another copy of mailbox id into this one after the
// two diverged (a partition, a forced promotion): theirs is that copy's
// whole record list and theirMaxSeen the highest UID it ever held. A
// record of theirs this copy never held (neither holds nor expunged) is
// added; one of ours they lack is kept. Because clients of either side
// may know UIDs up to that side's highest, a record that would appear
// below the other side's highest UID gets a new UID in this copy's slot,
// above everything: the old UID is expunged (for theirs, it is simply
// never used here). A record of ours that they expunged (theirGone) is
// expunged here too. Bodies of added records must be in the index or
// imported (ImportBody) beforehand. All in one commit.
func (s *Store) MergeForeign(id uint64, theirs []Message, theirGone []uint32, theirMaxSeen uint32) (MergeReport, error) {
	var rep MergeReport
	for _, m := range theirs {
		if !validGUID(m.GUID) || m.UID == 0 || len(m.Delivery) > MaxDeliveryID {
			return rep, fmt.Errorf("%w: foreign record uid %d guid %q", ErrInvalidMeta, m.UID, m.GUID)
		}
		if _, err := canonicalFlags(m.Flags); err != nil {
			return rep, err
		}
	}
	err := s.submit(func(w *txn) error {
		rep = MergeReport{}
		mb, err := w.mailbox(id)
		if err != nil {
			return err
		}
		ours, err := mb.records(nil)
		if err != nil {
			return err
		}
		low, lowOurs, err := s.adoptForeign(w, mb, ours, theirs, theirGone, &rep)
		if err != nil {
			return err
		}
		if lowOurs, err = w.honourExpunges(mb, lowOurs, theirGone, &rep); err != nil {
			return err
		}
		mb.meta.MaxSeenUID = max(mb.meta.MaxSeenUID, theirMaxSeen)
		if err := s.renumber(w, mb, low, lowOurs, theirMaxSeen, &rep); err != nil {
			return err
		}
		return mb.save()
	})
	return rep, err
}

// adoptForeign adds their records above our highest UID as they are, and
// returns theirs below it, and ours they lack, for renumbering.
func (s *Store) adoptForeign(w *txn, mb *mailbox, ours, theirs []Message, theirGone []uint32, rep *MergeReport) (low, lowOurs []Message, err error) {
	held := make(map[uint32]bool, len(ours))
	for _, m := range ours {
		held[m.UID] = true
	}
	theirSet := make(map[uint32]bool, len(theirs))
	for _, m := range theirs {
		theirSet[m.UID] = true
	}
	gone := mb.b.Bucket(keyExpunged)
	ourMax := mb.meta.MaxSeenUID
	now := time.Now()
	// Ours that they expunged are about to go: a delivery of theirs is
	// a duplicate only of one of ours that stays.
	going := make(map[uint32]bool, len(theirGone))
	for _, u := range theirGone {
		going[u] = true
	}
	var staying []Message
	for _, m := range ours {
		if !going[m.UID] {
			staying = append(staying, m)
		}
	}
	delivered := deliveriesOf(staying)
	var modseq uint64
	for _, m := range theirs {
		if held[m.UID] || (gone != nil && gone.Get(uidKey(m.UID)) != nil) {
			continue
		}
		if m.Delivery != "" {
			// The same delivery made here too (a proxy that sent it again
			// to this side after the other failed to answer) is made once.
			made, err := mb.madeDelivery(now, delivered, going, m)
			if err != nil {
				return nil, nil, err
			}
			if made {
				rep.Duplicates = append(rep.Duplicates, m.UID)
				continue
			}
			if err := mb.noteDelivery(now, m.Delivery, m.GUID, m.UID); err != nil {
				return nil, nil, err
			}
		}
		if modseq == 0 {
			modseq = mb.bump()
		}
		if m.UID < ourMax {
			low = append(low, m)
			continue
		}
		m.ModSeq = modseq
		if err := s.refForeign(w, m); err != nil {
			return nil, nil, err
		}
		if err := mb.add(&m); err != nil {
			return nil, nil, err
		}
		rep.Adopted = append(rep.Adopted, m.UID)
	}
	for _, m := range ours {
		if !theirSet[m.UID] {
			lowOurs = append(lowOurs, m)
		}
	}
	w.changed(mb.meta.ID, Appended, rep.Adopted)
	return low, lowOurs, nil
}

// honourExpunges expunges those of ours that the other copy expunged and
// returns the rest.
func (w *txn) honourExpunges(mb *mailbox, ours []Message, theirGone []uint32, rep *MergeReport) ([]Message, error) {
	if len(theirGone) == 0 {
		return ours, nil
	}
	gone := make(map[uint32]bool, len(theirGone))
	for _, u := range theirGone {
		gone[u] = true
	}
	var rest []Message
	for _, m := range ours {
		if !gone[m.UID] {
			rest = append(rest, m)
			continue
		}
		if err := w.expungeOne(mb, &m, mb.bump()); err != nil {
			return nil, err
		}
		rep.Expunged = append(rep.Expunged, m.UID)
	}
	w.changed(mb.meta.ID, Expunged, rep.Expunged)
	return rest, nil
}

// renumber gives new UIDs to their records below our highest UID and to
// ours (that they lack) below their highest.
func (s *Store) renumber(w *txn, mb *mailbox, low, lowOurs []Message, theirMaxSeen uint32, rep *MergeReport) error {
	var modseq uint64
	var added, expunged []uint32
	next := func() uint64 {
		if modseq == 0 {
			modseq = mb.bump()
		}
		return modseq
	}
	slices.SortFunc(low, func(a, b Message) int { return int(a.UID) - int(b.UID) })
	for _, m := range low {
		if err := s.refForeign(w, m); err != nil {
			return err
		}
		c, err := mb.appendCopy(m, next())
		if err != nil {
			return err
		}
		rep.Renumbered = append(rep.Renumbered, UIDPair{Src: m.UID, Dst: c.UID})
		added = append(added, c.UID)
	}
	for _, m := range lowOurs {
		if m.UID >= theirMaxSeen {
			continue
		}
		if err := w.ref(m.GUID, m.Size, nil); err != nil {
			return err
		}
		c, err := mb.appendCopy(m, next())
		if err != nil {
			return err
		}
		if err := w.expungeOne(mb, &m, modseq); err != nil {
			return err
		}
		rep.Renumbered = append(rep.Renumbered, UIDPair{Src: m.UID, Dst: c.UID})
		added = append(added, c.UID)
		expunged = append(expunged, m.UID)
	}
	w.changed(mb.meta.ID, Expunged, expunged)
	w.changed(mb.meta.ID, Appended, added)
	return nil
}

// refForeign references the body of a record from another copy, which
// must be in the index or imported.
func (s *Store) refForeign(w *txn, m Message) error {
	var cache []byte
	if !hasBody(w.Tx, m.GUID) {
		if !s.bodyPresent(w.Tx, m.GUID, m.Size) {
			return fmt.Errorf("%w: uid %d body %s", ErrMissingBody, m.UID, m.GUID)
		}
		cache = s.computeCache(w.Tx, m.GUID)
	}
	return w.ref(m.GUID, m.Size, cache)
}

// RaiseUIDFloor makes every later UID of mailbox id, in any slot, lie
// above floor, as if a message with that UID had been held: for a copy
// about to be given a slot another copy used, whose last allocations may
// never have reached this one. It changes no record and no modseq; a copy
// made from this one afterwards carries the floor.
func (s *Store) RaiseUIDFloor(id uint64, floor uint32) error {
	return s.submit(func(w *txn) error {
		mb, err := w.mailbox(id)
		if err != nil {
			return err
		}
		if floor <= mb.meta.MaxSeenUID {
			return nil
		}
		mb.meta.MaxSeenUID = floor
		return mb.save()
	})
}
