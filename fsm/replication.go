package fsm

import (
	"fmt"
	"slices"
	"strings"
)

// Replication state: which (primary backend, replica backend) pairs are in
// sync, and the failover rule that uses it. A pair is in sync when the
// replica holds every change the primary has acknowledged in every mailbox
// the primary serves and the replica copies; the primary keeps that true by
// dropping the pair (and waiting for the command to commit) before it
// acknowledges a change the replica lacks. The table is small (backends
// squared at most), so it is a sorted slice replaced whole on change.

// SetInSync adds the pair (Primary, Replica) to the in-sync set or drops it.
type SetInSync struct {
	Primary string
	Replica string
	InSync  bool
	At      int64 // unix nanoseconds, chosen by the proposer
}

// Failover moves the primary copy of every mailbox served by Backend to one
// of its replicas, in one command: the first replica, in the mailbox's
// order, whose pair (Backend, replica) is in sync and whose backend is not
// down. With Force, a mailbox that has no such replica goes to its first
// replica that is not down, in sync or not: acknowledged changes it lacks
// come back when the two copies merge. SetBackendState to down applies the
// unforced rule by itself.
type Failover struct {
	Backend string
	Force   bool
	At      int64
}

func (SetInSync) Type() CommandType { return TypeSetInSync }
func (Failover) Type() CommandType  { return TypeFailover }

// Pair is one in-sync (primary, replica) pair of backends.
type Pair struct {
	Primary string
	Replica string
}

func (p Pair) less(q Pair) int {
	if c := strings.Compare(p.Primary, q.Primary); c != 0 {
		return c
	}
	return strings.Compare(p.Replica, q.Replica)
}

func (f *FSM) registerReplicationHandlers() {
	on(f, (*FSM).setInSync)
	on(f, (*FSM).failover)
}

func (f *FSM) setInSync(c SetInSync) Result {
	t := f.work
	primary, ok := t.internBackend(c.Primary)
	if !ok {
		return failed(fmt.Errorf("%w: %q", ErrNoBackend, c.Primary))
	}
	replica, ok := t.internBackend(c.Replica)
	if !ok {
		return failed(fmt.Errorf("%w: %q", ErrNoBackend, c.Replica))
	}
	if primary == replica {
		return failed(fmt.Errorf("%w: backend %q cannot replicate to itself", ErrInvalidCommand, primary))
	}
	p := Pair{Primary: primary, Replica: replica}
	i, found := slices.BinarySearchFunc(t.inSync, p, Pair.less)
	switch {
	case c.InSync && !found:
		t.inSync = slices.Insert(slices.Clone(t.inSync), i, p)
	case !c.InSync && found:
		t.inSync = slices.Delete(slices.Clone(t.inSync), i, i+1)
	default:
		return Result{}
	}
	return Result{Count: 1}
}

func (f *FSM) failover(c Failover) Result {
	if _, ok := f.work.backend(c.Backend); !ok {
		return failed(fmt.Errorf("%w: %q", ErrNoBackend, c.Backend))
	}
	return Result{Count: f.promoteAway(c.Backend, c.Force)}
}

// promoteAway gives every mailbox whose primary is backend a new primary
// (see Failover) and returns how many it moved. The old primary becomes a
// replica in the new primary's place; slots travel with their backends,
// so a backend keeps the UID residue class it has used for the mailbox.
func (f *FSM) promoteAway(backend string, force bool) int {
	t := f.work
	var served []*Mailbox
	t.names.Ascend(func(e nameEntry) bool {
		if e.mb.Primary.Backend == backend && e.mb.State != Reserved && len(e.mb.Replicas) > 0 {
			served = append(served, e.mb)
		}
		return true
	})
	moved := 0
	for _, old := range served {
		i := t.promotable(old, force)
		if i < 0 {
			continue
		}
		// A move of the mailbox ends here: its source is gone.
		f.cancelMove(old)
		old, _ = t.mailboxByID(old.ID)
		mb := *old
		mb.Replicas = slices.Clone(old.Replicas)
		mb.Primary, mb.Replicas[i] = old.Replicas[i], old.Primary
		f.replaceMailbox(old, &mb)
		t.inSync = promotedPairs(t, old.Primary.Backend, &mb)
		moved++
	}
	return moved
}

// promotedPairs drops the pair (new primary, replica) for each replica of
// mb whose copy was not in sync with the old primary: the new primary's
// other mailboxes may have put the pair in the set, but this mailbox's
// copy there may lack changes the old primary acknowledged, and a second
// failover must not promote it. The new primary's catch-up puts the pair
// back once the copy has caught up. The move's switch does the same
// (switchedPairs).
func promotedPairs(t *tables, oldPrimary string, mb *Mailbox) []Pair {
	out := t.inSync
	for _, r := range mb.Replicas {
		if r.Backend == oldPrimary || t.pairInSync(oldPrimary, r.Backend) {
			continue
		}
		p := Pair{Primary: mb.Primary.Backend, Replica: r.Backend}
		if i, found := slices.BinarySearchFunc(out, p, Pair.less); found {
			out = slices.Delete(slices.Clone(out), i, i+1)
		}
	}
	return out
}

// promotable is the index of the replica of mb to promote, or -1.
func (t *tables) promotable(mb *Mailbox, force bool) int {
	first := -1
	for i, r := range mb.Replicas {
		if b, ok := t.backend(r.Backend); !ok || b.State == BackendDown {
			continue
		}
		if t.pairInSync(mb.Primary.Backend, r.Backend) {
			return i
		}
		if first < 0 {
			first = i
		}
	}
	if force {
		return first
	}
	return -1
}

func (t *tables) pairInSync(primary, replica string) bool {
	_, found := slices.BinarySearchFunc(t.inSync, Pair{Primary: primary, Replica: replica}, Pair.less)
	return found
}

func (c SetInSync) appendTo(e *encoder) {
	e.string(c.Primary)
	e.string(c.Replica)
	e.byte(boolByte(c.InSync))
	e.int(c.At)
}

func decodeSetInSync(d *decoder) Command {
	return SetInSync{Primary: d.string(), Replica: d.string(), InSync: d.bool(), At: d.int()}
}

func (c Failover) appendTo(e *encoder) {
	e.string(c.Backend)
	e.byte(boolByte(c.Force))
	e.int(c.At)
}

func decodeFailover(d *decoder) Command {
	return Failover{Backend: d.string(), Force: d.bool(), At: d.int()}
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func (d *decoder) bool() bool {
	switch b := d.byte(); b {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail("bad bool %d", b)
		return false
	}
}
