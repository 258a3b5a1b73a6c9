package backend

import (
	"context"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// gatherLoop is the rebalancer: every interval it moves at most one of
// the user mailboxes this backend is primary of to the backend of its
// owner's INBOX, with the live move (sessions kept), until ctx ends. Every
// backend runs its own, so the cluster gathers at most one mailbox per
// backend per interval: the rate limit that keeps the copying a
// background load. It does what `rookery admin user gather` does for
// every user, a little at a time.
func (b *Backend) gatherLoop(ctx context.Context, interval time.Duration) {
	every(ctx, interval, b.gatherOne)
}

// gatherOne moves the first stray mailbox it finds, if any.
func (b *Backend) gatherOne(ctx context.Context) {
	v, err := b.cfg.Directory.Read(ctx, directory.Local)
	if err != nil {
		return
	}
	m, home := strayMailbox(v, b.cfg.ID)
	if m == nil {
		return
	}
	after, err := b.repl.Move(ctx, m.Name, home, nil)
	if err != nil {
		b.log.Warn("gathering a mailbox to its owner's INBOX failed; trying again later", "mailbox", m.Name, "target", home, "err", err)
		return
	}
	b.log.Info("mailbox gathered to its owner's INBOX", "mailbox", after.Name, "mailbox_id", after.ID, "primary", home)
}

// usersPrefix is where every user's mailboxes are, in internal names.
const usersPrefix = "user/"

// strayMailbox finds an active mailbox of some user, primary on backend
// and not being moved, whose owner's INBOX is on another backend that is
// up, and that backend. Shared mailboxes keep their placement.
func strayMailbox(v *fsm.View, backend string) (*fsm.Mailbox, string) {
	var found *fsm.Mailbox
	home := ""
	v.Mailboxes(usersPrefix, func(m *fsm.Mailbox) bool {
		owner := fsm.Owner(m.Name)
		if owner == "" || m.State != fsm.Active || m.Primary.Backend != backend || m.Name == fsm.Inbox(owner) {
			return true
		}
		if _, moving := v.MoveOf(m.ID); moving {
			return true
		}
		inbox, ok := v.Mailbox(fsm.Inbox(owner))
		if !ok || inbox.State != fsm.Active || inbox.Primary.Backend == backend {
			return true
		}
		if be, ok := v.Backend(inbox.Primary.Backend); !ok || be.State != fsm.BackendUp {
			return true
		}
		found, home = m, inbox.Primary.Backend
		return false
	})
	return found, home
}
