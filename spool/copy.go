package spool

import (
	"context"
	"time"
)

// Copy adds the messages uids of mailbox src to mailbox dst under new UIDs
// of dst's slot, in UID order. The copies share the body file; UIDs that do
// not exist are skipped.
func (s *Store) Copy(ctx context.Context, src uint64, uids []uint32, dst uint64) ([]UIDPair, error) {
	return s.copyMessages(ctx, src, uids, dst, false)
}

// Move is Copy and the expunge of the originals, in one commit: no
// observer ever sees the message in both mailboxes or in neither.
func (s *Store) Move(ctx context.Context, src uint64, uids []uint32, dst uint64) ([]UIDPair, error) {
	return s.copyMessages(ctx, src, uids, dst, true)
}

func (s *Store) copyMessages(ctx context.Context, src uint64, uids []uint32, dst uint64, move bool) ([]UIDPair, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var pairs []UIDPair
	err := s.submit(func(w *txn) error {
		pairs = nil
		from, err := w.mailbox(src)
		if err != nil {
			return err
		}
		to := from
		if dst != src {
			if to, err = w.mailbox(dst); err != nil {
				return err
			}
		}
		msgs, err := from.records(uids)
		if err != nil || len(msgs) == 0 {
			return err
		}
		pairs, err = w.copyRecords(from, to, msgs, move)
		return err
	})
	return pairs, err
}

// copyRecords does the work of Copy and Move inside one transaction.
func (w *txn) copyRecords(from, to *mailbox, msgs []Message, move bool) ([]UIDPair, error) {
	modseq := to.bump()
	pairs := make([]UIDPair, 0, len(msgs))
	added := make([]uint32, 0, len(msgs))
	now := time.Now().Unix()
	for _, m := range msgs {
		m.Delivery = "" // a copy was not delivered to its mailbox
		m.SavedAt = now // nor saved in it before
		c, err := to.appendCopy(m, modseq)
		if err != nil {
			return nil, err
		}
		if err := w.ref(m.GUID, m.Size, nil); err != nil {
			return nil, err
		}
		pairs = append(pairs, UIDPair{Src: m.UID, Dst: c.UID})
		added = append(added, c.UID)
	}
	w.changed(to.meta.ID, Appended, added)
	if move {
		removed := make([]uint32, 0, len(msgs))
		expunged := modseq
		if from != to {
			expunged = from.bump()
		}
		for _, m := range msgs {
			if err := w.expungeOne(from, &m, expunged); err != nil {
				return nil, err
			}
			removed = append(removed, m.UID)
		}
		w.changed(from.meta.ID, Expunged, removed)
	}
	if err := to.save(); err != nil {
		return nil, err
	}
	if from != to {
		return pairs, from.save()
	}
	return pairs, nil
}
