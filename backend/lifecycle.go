package backend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/rookery-mail/rookery/backend/imapd"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
)

var _ imapd.Mailboxes = (*Backend)(nil)

// Create makes mailbox name on this backend (DESIGN "Mailbox life cycle"):
// Reserve in the directory, create in the spool, give the in-sync replicas
// their (empty) copy, Activate. A crash at any point leaves either a
// reservation Reconcile releases (its create was never acknowledged) or an
// active mailbox; the name is never poisoned. The mailbox
// becomes visible, to this client and every other, only once every
// in-sync replica holds it, so a failover never finds it missing on the
// new primary. It returns once the local directory copy shows it.
func (b *Backend) Create(ctx context.Context, name, specialUse string) (*fsm.Mailbox, error) {
	if err := fsm.ValidateName(name); err != nil {
		return nil, err
	}
	resv, err := reservationID()
	if err != nil {
		return nil, err
	}
	res, err := b.apply(ctx, fsm.Reserve{
		Name: name, Backend: b.cfg.ID, Replicas: b.pickReplicas(name), Reservation: resv,
		At: time.Now().UnixNano(), SpecialUse: specialUse,
	})
	if err != nil {
		return nil, err
	}
	m := res.Mailbox
	meta := spool.MailboxMeta{ID: m.ID, UIDValidity: m.UIDValidity, Stride: m.Stride, Slot: m.Primary.Slot}
	if err := b.cfg.Store.CreateMailbox(meta); err != nil {
		b.release(name, resv)
		return nil, fmt.Errorf("create mailbox %d in spool: %w", m.ID, err)
	}
	// A replica that cannot take its copy leaves the in-sync set (and the
	// mailbox is made without it), unless the directory could not record
	// that: then the create fails and nothing of it stays. The replicator
	// reads the placement from the local directory copy, which must show
	// the reservation first.
	err = b.cfg.Directory.WaitApplied(ctx, res.Index)
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrDirectory, err)
	} else if failed := b.repl.Replicate(ctx, []uint64{m.ID}); failed[m.ID] != nil {
		err = fmt.Errorf("%w: mailbox %s: %w", spool.ErrNotReplicated, name, failed[m.ID])
	}
	if err != nil {
		b.release(name, resv)
		b.dropUnactivated(m.ID)
		b.repl.DropCopies(context.WithoutCancel(ctx), m)
		return nil, err
	}
	res, err = b.apply(ctx, fsm.Activate{Name: name, Reservation: resv})
	if errors.Is(err, ErrDirectory) {
		// The Activate may still commit (an election took the answer
		// away): a create that fails must never take effect later.
		if mb, settled := b.settleCreate(name, resv); mb != nil {
			return mb, nil
		} else if !settled {
			return nil, err // unknown still; Reconcile or the sweep settles it
		}
		err = fmt.Errorf("%w: the reservation was released after the activation failed", err)
	}
	if err != nil {
		// The reservation is gone: the mailbox on disk was never active
		// and holds nothing.
		b.dropUnactivated(m.ID)
		b.repl.DropCopies(context.WithoutCancel(ctx), m)
		return nil, err
	}
	if err := b.cfg.Directory.WaitApplied(ctx, res.Index); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	b.log.Info("mailbox created", "mailbox", name, "mailbox_id", m.ID, "uidvalidity", res.Mailbox.UIDValidity)
	return res.Mailbox, nil
}

// settleCreate decides the fate of a create whose Activate got no answer,
// within DirectoryTimeout: it releases the reservation, which no Activate
// can follow in the log, or finds the mailbox activated under it (then
// the create succeeded). settled is false when the directory could not be
// reached for the whole bound.
func (b *Backend) settleCreate(name, resv string) (mb *fsm.Mailbox, settled bool) {
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.DirectoryTimeout)
	defer cancel()
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		_, err := b.apply(ctx, fsm.Release{Name: name, Reservation: resv})
		if err == nil {
			return nil, true
		}
		if !errors.Is(err, ErrDirectory) {
			// Not reserved under resv any more: activated, or released
			// by the leader's sweep. A synced read tells which.
			v, rerr := b.cfg.Directory.Read(ctx, directory.Synced)
			if rerr == nil {
				if m, ok := v.Mailbox(name); ok && m.Reservation == resv && m.State != fsm.Reserved {
					return m, true
				}
				return nil, true
			}
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-time.After(delay):
		}
	}
}

func reservationID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("reservation id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// release gives a reservation back after a failed create. It runs on its
// own deadline: the caller's context may be what failed.
func (b *Backend) release(name, resv string) {
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.DirectoryTimeout)
	defer cancel()
	if _, err := b.apply(ctx, fsm.Release{Name: name, Reservation: resv}); err != nil {
		// The leader releases it after the reservation TTL, or Reconcile
		// does at the next start.
		b.log.Warn("release of reservation failed", "mailbox", name, "err", err)
	}
}

func (b *Backend) dropUnactivated(id uint64) {
	if err := b.cfg.Store.DeleteMailbox(id); err != nil && !errors.Is(err, spool.ErrNoMailbox) {
		b.log.Warn("removal of never-activated mailbox failed", "mailbox_id", id, "err", err)
	}
}

// Delete removes mailbox name: mark it deleting (it takes no more mail),
// remove it from the spool, remove the directory entry. A crash part way
// leaves a Deleting entry that Reconcile finishes.
func (b *Backend) Delete(ctx context.Context, name string) error {
	m, err := b.lookup(ctx, name)
	if err != nil {
		return err
	}
	if m.Primary.Backend != b.cfg.ID {
		return fmt.Errorf("%w: %s is on %s", ErrNotPrimary, name, m.Primary.Backend)
	}
	if m.State == fsm.Deleting {
		// Another DELETE marked it (and may be finishing it now, or have
		// stopped part way): help it finish, but this one deleted nothing.
		// Two DELETEs of one mailbox are never both answered OK.
		if err := b.finishDelete(ctx, m); err != nil {
			return err
		}
		return fmt.Errorf("%w: %s", fsm.ErrNoMailbox, name)
	}
	res, err := b.apply(ctx, fsm.MarkDeleting{Name: name})
	if err != nil {
		return err
	}
	// The mailbox the leader marked, not the one a lagging local copy
	// named: a rename through another node may have given the name to
	// another mailbox since.
	if res.Mailbox != nil {
		m = res.Mailbox
	}
	if m.Primary.Backend != b.cfg.ID {
		return fmt.Errorf("%w: %s is on %s", ErrNotPrimary, name, m.Primary.Backend)
	}
	return b.finishDelete(ctx, m)
}

func (b *Backend) finishDelete(ctx context.Context, m *fsm.Mailbox) error {
	if err := b.cfg.Store.DeleteMailbox(m.ID); err != nil && !errors.Is(err, spool.ErrNoMailbox) {
		return fmt.Errorf("delete mailbox %d from spool: %w", m.ID, err)
	}
	res, err := b.apply(ctx, fsm.Remove{Name: m.Name, ID: m.ID})
	if errors.Is(err, fsm.ErrNoMailbox) {
		// Finished meanwhile by another finisher of the same delete (the
		// settle loop, a DELETE sent again): the entry of this id is gone.
		err = nil
	}
	if err != nil {
		return err
	}
	if err := b.cfg.Directory.WaitApplied(ctx, res.Index); err != nil {
		return fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	b.repl.DropCopies(ctx, m)
	b.log.Info("mailbox deleted", "mailbox", m.Name, "mailbox_id", m.ID)
	return nil
}

// Rename is a directory change only: the spool knows mailboxes by id.
func (b *Backend) Rename(ctx context.Context, from, to string) error {
	res, err := b.apply(ctx, fsm.Rename{From: from, To: to})
	if err != nil {
		return err
	}
	if err := b.cfg.Directory.WaitApplied(ctx, res.Index); err != nil {
		return fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	return nil
}

// lookup finds name in a synced read of the directory: a DELETE must not
// act on a mailbox a lagging local copy still gives the name.
func (b *Backend) lookup(ctx context.Context, name string) (*fsm.Mailbox, error) {
	m, _, err := directory.Find(ctx, b.cfg.Directory, directory.Synced, func(v *fsm.View) (*fsm.Mailbox, bool) {
		return v.Mailbox(name)
	})
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return nil, fmt.Errorf("%w: %s", fsm.ErrNoMailbox, name)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	return m, nil
}

// apply proposes cmd. A broken rule comes back as the fsm sentinel; a
// failure to reach the directory as ErrDirectory.
func (b *Backend) apply(ctx context.Context, cmd fsm.Command) (fsm.Result, error) {
	res, err := b.cfg.Directory.Apply(ctx, cmd)
	if err != nil {
		return res, fmt.Errorf("%w: %T: %w", ErrDirectory, cmd, err)
	}
	if res.Err != nil {
		return res, fmt.Errorf("%T: %w", cmd, res.Err)
	}
	return res, nil
}
