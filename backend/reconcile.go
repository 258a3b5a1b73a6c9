package backend

import (
	"context"
	"errors"
	"fmt"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
)

// ReconcileReport says what Reconcile did.
type ReconcileReport struct {
	Released    []string // reservations of ours, each released
	Deleted     []string // deletes that a crash had interrupted
	Quarantined []uint64 // mailboxes on disk the directory does not place here
	Missing     []string // mailboxes the directory places here that are not on disk
}

// Reconcile makes the directory and the spool agree at start-up, as Cyrus
// does by hand (DESIGN "Mailbox life cycle"): every reservation this
// backend holds is released, since its create was never acknowledged;
// every interrupted delete is finished; every mailbox on disk that
// the directory does not place here is quarantined, never deleted.
func (b *Backend) Reconcile(ctx context.Context) (ReconcileReport, error) {
	var rep ReconcileReport
	// Each step below reads the local copy as it then is: from here on it
	// holds every write committed before Reconcile began, and the writes
	// of the steps before it that have reached it.
	if _, err := b.cfg.Directory.Read(ctx, directory.Synced); err != nil {
		return rep, fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	metas, err := b.cfg.Store.Mailboxes()
	if err != nil {
		return rep, fmt.Errorf("list spool mailboxes: %w", err)
	}
	onDisk := make(map[uint64]spool.MailboxMeta, len(metas))
	for _, m := range metas {
		onDisk[m.ID] = m
	}
	if err := b.resolveReservations(ctx, onDisk, &rep); err != nil {
		return rep, err
	}
	if err := b.finishDeletes(ctx, onDisk, &rep); err != nil {
		return rep, err
	}
	if err := b.repl.AbortOrphanMoves(ctx); err != nil {
		return rep, err
	}
	if err := b.quarantineStrays(ctx, onDisk, &rep); err != nil {
		return rep, err
	}
	b.log.Info("reconciled spool with directory",
		"released", len(rep.Released), "deleted", len(rep.Deleted),
		"quarantined", len(rep.Quarantined), "missing", len(rep.Missing))
	return rep, nil
}

func (b *Backend) resolveReservations(ctx context.Context, onDisk map[uint64]spool.MailboxMeta, rep *ReconcileReport) error {
	v, err := b.local(ctx)
	if err != nil {
		return err
	}
	var mine []*fsm.Mailbox
	v.Reservations(func(m *fsm.Mailbox) bool {
		if m.ReservedBy == b.cfg.ID {
			mine = append(mine, m)
		}
		return true
	})
	for _, m := range mine {
		// A reservation of ours found at start-up was never answered OK
		// (the OK follows the Activate), and its client may have been
		// told NO since: a CREATE answered NO never takes effect later,
		// so every one is released, and what it left on disk dropped.
		_, err := b.apply(ctx, fsm.Release{Name: m.Name, Reservation: m.Reservation})
		if err != nil && !isBrokenRule(err) {
			return err
		}
		if err != nil {
			// Settled meanwhile: by the leader's sweep, or by an Activate
			// the last process sent that committed after all. Its files
			// stay for what the directory now says.
			continue
		}
		if _, ok := onDisk[m.ID]; ok {
			b.dropUnactivated(m.ID)
			b.repl.DropCopies(ctx, m)
		}
		rep.Released = append(rep.Released, m.Name)
	}
	return nil
}

// isBrokenRule tells a directory answer (someone else settled it first)
// from a failure to reach the directory.
func isBrokenRule(err error) bool {
	return !errors.Is(err, ErrDirectory)
}

func (b *Backend) finishDeletes(ctx context.Context, onDisk map[uint64]spool.MailboxMeta, rep *ReconcileReport) error {
	v, err := b.local(ctx)
	if err != nil {
		return err
	}
	var deleting []*fsm.Mailbox
	v.Mailboxes("", func(m *fsm.Mailbox) bool {
		switch {
		case m.Primary.Backend != b.cfg.ID:
		case m.State == fsm.Deleting:
			deleting = append(deleting, m)
		case m.State == fsm.Active:
			if _, ok := onDisk[m.ID]; !ok {
				// Never recreated empty: clients may know UIDs in it,
				// and new mail must not reuse them. An operator decides.
				b.log.Error("mailbox is missing from the spool", "mailbox", m.Name, "mailbox_id", m.ID)
				rep.Missing = append(rep.Missing, m.Name)
			}
		}
		return true
	})
	for _, m := range deleting {
		if err := b.finishDelete(ctx, m); err != nil && !isBrokenRule(err) {
			return err
		}
		rep.Deleted = append(rep.Deleted, m.Name)
	}
	return nil
}

// quarantineStrays sets aside every mailbox on disk that the directory
// does not name, or names on other backends only.
func (b *Backend) quarantineStrays(ctx context.Context, onDisk map[uint64]spool.MailboxMeta, rep *ReconcileReport) error {
	v, err := b.local(ctx)
	if err != nil {
		return err
	}
	for id := range onDisk {
		m, ok := v.MailboxByID(id)
		var reason string
		switch {
		case !ok:
			reason = "the directory does not name this mailbox"
		case !holdsCopy(v, m, b.cfg.ID):
			reason = fmt.Sprintf("the directory places mailbox %s on %s", m.Name, m.Primary.Backend)
		default:
			continue
		}
		if err := b.cfg.Store.Quarantine(id, reason); err != nil {
			b.log.Error("quarantine failed", "mailbox_id", id, "err", err)
			continue
		}
		b.log.Warn("mailbox quarantined", "mailbox_id", id, "reason", reason)
		rep.Quarantined = append(rep.Quarantined, id)
	}
	return nil
}

// holdsCopy says whether v places a copy of m on backend: as its primary,
// a replica, or the target of a move under way.
func holdsCopy(v *fsm.View, m *fsm.Mailbox, backend string) bool {
	_, ok := v.CopyOn(m, backend)
	return ok
}

// local is a Local read of the directory, failing with ErrDirectory.
func (b *Backend) local(ctx context.Context) (*fsm.View, error) {
	v, err := b.cfg.Directory.Read(ctx, directory.Local)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	return v, nil
}
