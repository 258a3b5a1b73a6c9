package backend

import (
	"context"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// SettleInterval is how often a backend finishes the deletes it began and
// could not finish (a Remove refused by an election, a client gone): a
// name is never left deleting for longer, while this backend lives. A
// backend that is down has its deletes finished by the leader
// (fsm.RemoveDeletions), and one that crashed finishes them at start-up
// (Reconcile).
const SettleInterval = 2 * time.Second

// settleLoop finishes this backend's unfinished deletes every interval
// until ctx ends.
func (b *Backend) settleLoop(ctx context.Context, interval time.Duration) {
	every(ctx, interval, b.settleDeletes)
}

// every runs fn each interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

// settleDeletes finishes every delete whose mailbox this backend serves.
// The directory keeps the mailboxes being deleted in an index of their
// own, so this costs nothing while there are none.
func (b *Backend) settleDeletes(ctx context.Context) {
	v, err := b.cfg.Directory.Read(ctx, directory.Local)
	if err != nil {
		return
	}
	var mine []*fsm.Mailbox
	v.Deletions(func(m *fsm.Mailbox) bool {
		if m.Primary.Backend == b.cfg.ID {
			mine = append(mine, m)
		}
		return true
	})
	for _, m := range mine {
		dctx, cancel := context.WithTimeout(ctx, b.cfg.DirectoryTimeout)
		err := b.finishDelete(dctx, m)
		cancel()
		if err != nil && !isBrokenRule(err) {
			b.log.Warn("finishing a delete failed; trying again later", "mailbox", m.Name, "mailbox_id", m.ID, "err", err)
			continue
		}
		b.log.Info("unfinished delete finished", "mailbox", m.Name, "mailbox_id", m.ID)
	}
}
