package replication

import (
	"context"
	"errors"
	"fmt"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
)

// A backend that has handed a mailbox on (a move's switch, a failover) may
// still commit to its copy: a delivery or an APPEND that passed the
// directory check before the switch commits after it. Such a write is
// never acknowledged (the ack path fails it), but the store publishes
// every commit, so the old primary's clients may see its UID. That UID is
// from the old primary's slot and above what the new primary holds, so a
// message the new primary gives a lower UID would appear below a UID those
// clients knew. Before the failed commit is published (the ack path runs
// first), the old primary therefore asks the new one to raise its floor:
// to give its own messages that the old copy lacks, and that lie below the
// old copy's highest UID, new UIDs above it, as a merge does.

// raiseFloorOn asks primary to put its messages of mailbox id above this
// backend's copy. It runs on the acknowledgement path, while the failed
// commit is not yet visible; failure is logged, as the write fails anyway.
func (r *Replicator) raiseFloorOn(ctx context.Context, primary string, id uint64) {
	if primary == "" || primary == r.id {
		return
	}
	addr, err := r.apiAddr(primary)
	if err == nil {
		fctx, cancel := context.WithTimeout(ctx, r.timeout)
		err = r.client.RaiseFloor(fctx, addr, id, r.id)
		cancel()
	}
	if err != nil {
		r.log.Warn("a write committed after the mailbox went elsewhere; its new primary was not told",
			"mailbox_id", id, "primary", primary, "err", err)
		return
	}
	r.log.Info("a write committed after the mailbox went elsewhere; its new primary raised its UID floor",
		"mailbox_id", id, "primary", primary)
}

// raiseFloor serves a floor call on the mailbox's primary: the copy on
// from (an earlier primary) may show UIDs up to its highest, so every
// message here that from lacks and that lies below it is renumbered above
// it (spool.MergeForeign, given only the records both copies hold: from's
// unacknowledged writes are not adopted). Later allocations go above it
// too.
func (r *Replicator) raiseFloor(ctx context.Context, id uint64, from string) error {
	if err := r.servesAfterSync(ctx, id); err != nil {
		return err
	}
	addr, err := r.apiAddr(from)
	if err != nil {
		return err
	}
	theirs, err := r.client.Records(ctx, addr, id)
	if err != nil {
		return fmt.Errorf("records of mailbox %d on %s: %w", id, from, err)
	}
	if !theirs.State.Exists {
		return nil
	}
	// No mailbox lock: the merge commits through the ack path, which
	// takes it; MergeForeign reads our records afresh in its commit.
	ours, err := r.store.Messages(id)
	if err != nil {
		return err
	}
	mine, err := r.store.ReplicaState(id)
	if err != nil {
		return err
	}
	held := make(map[uint32]string, len(ours))
	for _, m := range ours {
		held[m.UID] = m.GUID
	}
	shared := make(map[uint32]bool, len(theirs.Records))
	var common []spool.Message
	for _, m := range theirs.Records {
		if held[m.UID] == m.GUID {
			common = append(common, m)
			shared[m.UID] = true
		}
	}
	top := theirs.State.MaxSeenUID
	below := 0
	for _, m := range ours {
		if !shared[m.UID] && m.UID < top {
			below++
		}
	}
	if below == 0 && top <= mine.MaxSeenUID {
		return nil // nothing of ours lies below what from's clients saw
	}
	rep, err := r.store.MergeForeign(id, common, nil, top)
	if err != nil {
		return fmt.Errorf("raise the UID floor of mailbox %d to %d: %w", id, top, err)
	}
	r.log.Info("UID floor raised above an earlier primary's copy", "mailbox_id", id, "from", from,
		"floor", top, "renumbered", len(rep.Renumbered))
	return nil
}

// servesAfterSync checks that this backend is mailbox id's primary,
// reading the directory afresh when the local copy says otherwise.
func (r *Replicator) servesAfterSync(ctx context.Context, id uint64) error {
	_, _, err := directory.Find(ctx, r.dir, directory.Local, func(v *fsm.View) (struct{}, bool) {
		m, ok := v.MailboxByID(id)
		return struct{}{}, ok && m.Primary.Backend == r.id
	})
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return fmt.Errorf("%w: mailbox %d: not its primary", ErrConflict, id)
	case err != nil:
		return fmt.Errorf("%w: directory: %v", ErrUnavailable, err)
	}
	return nil
}
