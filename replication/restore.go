package replication

import (
	"context"
	"fmt"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// Restoring the replication factor. After a failover, the mailboxes
// whose replica died run on one copy; a second failure would lose what
// was acknowledged since. Each primary therefore gives its mailboxes new
// copies by itself: a replica whose backend has been down for
// RestoreAfter is replaced by a copy on the best-ranked up backend that
// holds none (fsm.Rereplicate), and a mailbox with fewer copies than the
// factor and a free UID slot gets one more. The new copies start empty,
// so the pair (primary, new backend) leaves the in-sync set; the catch-up
// loop copies them whole and puts the pair back. That is the rate limit:
// at most restoreBatch mailboxes a command, and no new command to a
// backend while its pair is catching up.

// DefaultRestoreAfter is how long a replica's backend stays down before
// its copies are made again elsewhere: long enough for a reboot.
const DefaultRestoreAfter = 2 * time.Minute

// restoreBatch bounds the mailboxes of one Rereplicate command.
const restoreBatch = 500

// restoreUIDGap is how far the primary raises its UID floor (in UIDs,
// times the stride) before a new copy takes the slot of a lost one: the
// lost copy may have given UIDs in that slot to writes it committed but
// never replicated (never acknowledged, but seen by its own clients for
// the moment before it died). They lie above this copy's highest UID, a
// few in-flight writes' worth; the gap keeps the new copy from giving any
// of them again.
const restoreUIDGap = 1 << 16

// restoreOnce proposes at most one Rereplicate per target backend.
func (r *Replicator) restoreOnce(ctx context.Context) {
	after := r.cfg.RestoreAfter
	if after < 0 || r.cfg.ReplicationFactor < 2 {
		r.underReplicated.Store(0)
		return
	}
	v, err := r.dir.Read(ctx, directory.Local)
	if err != nil {
		return
	}
	type need struct {
		m    *fsm.Mailbox
		drop string
	}
	var todo []need
	under := 0
	now := time.Now()
	v.Mailboxes("", func(m *fsm.Mailbox) bool {
		if m.Primary.Backend != r.id || m.State != fsm.Active {
			return true
		}
		live, drop, ripe := 1, "", false
		for _, c := range m.Replicas {
			b, ok := v.Backend(c.Backend)
			if ok && b.State != fsm.BackendDown {
				live++
				continue
			}
			if drop == "" {
				drop, ripe = c.Backend, !ok || now.Sub(time.Unix(0, b.Since)) >= after
			}
		}
		if live >= r.cfg.ReplicationFactor {
			return true
		}
		under++
		switch {
		case drop != "" && !ripe:
		case drop == "" && 1+len(m.Replicas) >= int(m.Stride):
		default:
			todo = append(todo, need{m, drop})
		}
		return true
	})
	r.underReplicated.Store(int64(under))
	if len(todo) == 0 {
		return
	}
	// One ranking for the round: RankBackends weighs the backends' loads,
	// which the round's own commands change only a little.
	var targets []string
	for _, id := range r.cfg.RankBackends(todo[0].m.Name) {
		b, ok := v.Backend(id)
		if !ok || b.State != fsm.BackendUp || id == r.id {
			continue
		}
		if r.restoringTo(id) && !v.InSync(r.id, id) {
			continue // its last batch is still catching up
		}
		targets = append(targets, id)
	}
	batches := make(map[string][]fsm.RereplicateItem)
	for _, n := range todo {
		for _, t := range targets {
			if _, has := v.CopyOn(n.m, t); has || len(batches[t]) >= restoreBatch {
				continue
			}
			if n.drop != "" {
				if err := r.raiseFloorForSlot(n.m); err != nil {
					r.log.Warn("restoring a copy: the UID floor could not be raised", "mailbox", n.m.Name, "err", err)
					break
				}
			}
			batches[t] = append(batches[t], fsm.RereplicateItem{Mailbox: n.m.ID, Epoch: n.m.Epoch, Drop: n.drop})
			break
		}
	}
	for t, items := range batches {
		res, err := r.apply(ctx, fsm.Rereplicate{Primary: r.id, Add: t, Items: items, At: time.Now().UnixNano()})
		if err != nil {
			r.log.Warn("restoring copies failed; trying again later", "target", t, "mailboxes", len(items), "err", err)
			continue
		}
		r.mu.Lock()
		r.restoring[t] = true
		r.mu.Unlock()
		r.restored.Add(int64(res.Count))
		r.log.Info("copies restored on another backend; catch-up fills them", "target", t, "mailboxes", res.Count)
	}
}

func (r *Replicator) restoringTo(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.restoring[id]
}

// raiseFloorForSlot puts this copy's next UIDs restoreUIDGap strides
// above its highest, before m's lost copy's slot is given to a new one.
// It does so once per mailbox in this process, however often the command
// that follows must be tried again.
func (r *Replicator) raiseFloorForSlot(m *fsm.Mailbox) error {
	r.mu.Lock()
	done := r.floorRaised[m.ID]
	r.mu.Unlock()
	if done {
		return nil
	}
	st, err := r.store.ReplicaState(m.ID)
	if err != nil {
		return err
	}
	floor := uint64(st.MaxSeenUID) + restoreUIDGap*uint64(m.Stride)
	if floor > 0xFFFFFFFF {
		return fmt.Errorf("mailbox %d: no UIDs left above %d", m.ID, st.MaxSeenUID)
	}
	if err := r.store.RaiseUIDFloor(m.ID, uint32(floor)); err != nil {
		return err
	}
	r.mu.Lock()
	r.floorRaised[m.ID] = true
	r.mu.Unlock()
	return nil
}
