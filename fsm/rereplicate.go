package fsm

import (
	"fmt"
	"slices"
)

// Rereplicate restores the copies of mailboxes whose replica is on a
// backend that is down, or that have fewer copies than their stride has
// room for: each item's mailbox gets a copy on Add, in place of its copy
// on Drop (which must be down) or in a free slot when Drop is empty. The
// primary proposes it for its own mailboxes, so that after a failover the
// replication factor comes back without an operator.
//
// An item applies only while the mailbox is active, still has Primary as
// its primary and is still at Epoch (the placement the proposer saw), and
// Add holds no copy of it; the others are skipped, and Count says how many
// applied. Add's copies start empty, so the pair (Primary, Add) leaves the
// in-sync set: no failover may promote a copy the primary has not synced,
// and the primary's catch-up puts the pair back once every copy has
// caught up. Add takes Drop's UID slot; the proposer raises its own copy's
// UID floor first (see replication's restore), so that the new copy never
// allocates a UID that the lost one may have given to a write never
// acknowledged.
type Rereplicate struct {
	Primary string
	Add     string
	Items   []RereplicateItem
	At      int64 // unix nanoseconds, chosen by the proposer
}

// RereplicateItem is one mailbox of a Rereplicate.
type RereplicateItem struct {
	Mailbox uint64
	Epoch   uint64
	Drop    string // a replica on a backend that is down, or "" for a free slot
}

func (Rereplicate) Type() CommandType { return TypeRereplicate }

func (f *FSM) registerRereplicateHandlers() {
	on(f, (*FSM).rereplicate)
}

func (f *FSM) rereplicate(c Rereplicate) Result {
	t := f.work
	primary, ok := t.internBackend(c.Primary)
	if !ok {
		return failed(fmt.Errorf("%w: %q", ErrNoBackend, c.Primary))
	}
	add, ok := t.internBackend(c.Add)
	if !ok {
		return failed(fmt.Errorf("%w: %q", ErrNoBackend, c.Add))
	}
	if b, _ := t.backend(add); add == primary || b.State != BackendUp {
		return failed(fmt.Errorf("%w: %q cannot take a copy (it is the primary or not up)", ErrInvalidCommand, add))
	}
	done := 0
	for _, it := range c.Items {
		old, ok := t.mailboxByID(it.Mailbox)
		if !ok || old.State != Active || old.Primary.Backend != primary || old.Epoch != it.Epoch {
			continue
		}
		if _, moving := t.move(old.ID); moving {
			continue
		}
		copyOf := func(c Copy) bool { return c.Backend == add }
		if slices.ContainsFunc(old.Replicas, copyOf) {
			continue
		}
		mb := *old
		mb.Replicas = slices.Clone(old.Replicas)
		if it.Drop == "" {
			slot, free := t.freeSlot(old)
			if !free {
				continue
			}
			mb.Replicas = append(mb.Replicas, Copy{Backend: add, Slot: slot})
		} else {
			i := slices.IndexFunc(old.Replicas, func(c Copy) bool { return c.Backend == it.Drop })
			if i < 0 {
				continue
			}
			if b, ok := t.backend(it.Drop); !ok || b.State != BackendDown {
				continue
			}
			mb.Replicas[i] = Copy{Backend: add, Slot: old.Replicas[i].Slot}
		}
		f.replaceMailbox(old, &mb)
		done++
	}
	if done > 0 {
		p := Pair{Primary: primary, Replica: add}
		if i, found := slices.BinarySearchFunc(t.inSync, p, Pair.less); found {
			t.inSync = slices.Delete(slices.Clone(t.inSync), i, i+1)
		}
	}
	return Result{Count: done}
}

// freeSlot is a UID slot of mb that no copy holds.
func (t *tables) freeSlot(mb *Mailbox) (uint32, bool) {
	used := map[uint32]bool{mb.Primary.Slot: true}
	for _, r := range mb.Replicas {
		used[r.Slot] = true
	}
	for s := uint32(0); s < mb.Stride; s++ {
		if !used[s] {
			return s, true
		}
	}
	return 0, false
}

func (c Rereplicate) appendTo(e *encoder) {
	e.string(c.Primary)
	e.string(c.Add)
	e.uint(uint64(len(c.Items)))
	for _, it := range c.Items {
		e.uint(it.Mailbox)
		e.uint(it.Epoch)
		e.string(it.Drop)
	}
	e.int(c.At)
}

func decodeRereplicate(d *decoder) Command {
	c := Rereplicate{Primary: d.string(), Add: d.string()}
	if n := d.count(); n > 0 {
		c.Items = make([]RereplicateItem, n)
		for i := range c.Items {
			c.Items[i] = RereplicateItem{Mailbox: d.uint(), Epoch: d.uint(), Drop: d.string()}
		}
	}
	c.At = d.int()
	return c
}
