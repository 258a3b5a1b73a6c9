package fsm

import (
	"fmt"
	"slices"
)

// Live moves of a mailbox's primary copy to another backend (DESIGN
// "Mailbox life cycle"). The source backend drives a move:
//
//	MoveStart   the target joins as an extra copy (not a replica: failover
//	            never promotes it, the in-sync set does not cover it) and
//	            is given the UID slot it will allocate from
//	MoveMark    the mailbox goes Moving: no new deliveries or appends
//	MoveSwitch  one command makes the target primary and ends the move
//	MoveAbort   the mailbox is Active on the source again, the move gone
//
// The target never allocates from the source's slot, so a source that has
// not yet learnt of the switch (partitioned, slow) can never give a UID
// the target also gives: the target takes a replica's slot if it is one,
// else a slot no copy holds, else the slot of a replica that the switch
// drops, and then the source stays on as a replica in its own slot.

// Move is a live move in progress. There is at most one per mailbox.
type Move struct {
	Mailbox    uint64 // mailbox id
	ID         string // chosen by the source backend
	Source     string // the primary when the move began
	Target     Copy   // the backend that becomes primary, and its slot
	Drop       string // the replica the switch removes, whose slot Target took; "" for none
	KeepSource bool   // the source stays on as a replica after the switch
	At         int64  // unix nanoseconds, chosen by the proposer
}

// MoveStart begins moving mailbox Name to backend Target. The mailbox must
// be Active, with no move under way; Target must be up and not already the
// primary. KeepSource asks for the source to stay on as a replica (the
// replication factor needs the copy); the directory may keep it even when
// not asked (see Move.Drop).
type MoveStart struct {
	Name       string
	MoveID     string
	Target     string
	KeepSource bool
	At         int64
}

// MoveMark puts a mailbox whose move MoveID is under way in state Moving.
type MoveMark struct {
	Mailbox uint64
	MoveID  string
}

// MoveSwitch ends move MoveID of a Moving mailbox: the target becomes
// primary and the mailbox Active again.
type MoveSwitch struct {
	Mailbox uint64
	MoveID  string
	At      int64
}

// MoveAbort ends move MoveID without a switch: the mailbox is Active on
// its source again.
type MoveAbort struct {
	Mailbox uint64
	MoveID  string
	At      int64
}

func (MoveStart) Type() CommandType  { return TypeMoveStart }
func (MoveMark) Type() CommandType   { return TypeMoveMark }
func (MoveSwitch) Type() CommandType { return TypeMoveSwitch }
func (MoveAbort) Type() CommandType  { return TypeMoveAbort }

func (f *FSM) registerMoveHandlers() {
	on(f, (*FSM).moveStart)
	on(f, (*FSM).moveMark)
	on(f, (*FSM).moveSwitch)
	on(f, (*FSM).moveAbort)
}

func (f *FSM) moveStart(c MoveStart) Result {
	t := f.work
	if c.MoveID == "" {
		return failed(fmt.Errorf("%w: move without a move id", ErrInvalidCommand))
	}
	mb, ok := t.mailbox(c.Name)
	if !ok {
		return failed(ErrNoMailbox)
	}
	if mb.State != Active {
		return failed(fmt.Errorf("%w: %s is %s", ErrNotActive, mb.Name, mb.State))
	}
	if _, busy := t.move(mb.ID); busy {
		return failed(fmt.Errorf("%w: %s is already moving", ErrMailboxMoving, mb.Name))
	}
	target, ok := t.backend(c.Target)
	if !ok {
		return failed(fmt.Errorf("%w: %q", ErrNoBackend, c.Target))
	}
	if target.State != BackendUp {
		return failed(fmt.Errorf("%w: target %s is %s", ErrInvalidCommand, target.ID, target.State))
	}
	if target.ID == mb.Primary.Backend {
		return failed(fmt.Errorf("%w: %s is already on %s", ErrInvalidCommand, mb.Name, target.ID))
	}
	mv := Move{Mailbox: mb.ID, ID: c.MoveID, Source: mb.Primary.Backend, KeepSource: c.KeepSource, At: c.At}
	var fits bool
	mv.Target, mv.Drop, fits = t.targetSlot(mb, target.ID)
	if !fits {
		return failed(fmt.Errorf("%w: %s has no UID slot for another copy", ErrInvalidCommand, mb.Name))
	}
	if mv.Drop != "" {
		mv.KeepSource = true // the copy count stays; the source keeps its own slot
	}
	t.putMove(mv)
	return Result{Mailbox: mb, Count: 1}
}

// targetSlot picks the copy the target becomes: its own replica copy, a
// slot no copy holds, or a replica's slot, that replica being dropped at
// the switch (one whose pair with the primary is out of sync or whose
// backend is down if there is one, else the last).
func (t *tables) targetSlot(mb *Mailbox, target string) (Copy, string, bool) {
	for _, r := range mb.Replicas {
		if r.Backend == target {
			return r, "", true
		}
	}
	used := map[uint32]bool{mb.Primary.Slot: true}
	for _, r := range mb.Replicas {
		used[r.Slot] = true
	}
	for s := uint32(0); s < mb.Stride; s++ {
		if !used[s] {
			return Copy{Backend: target, Slot: s}, "", true
		}
	}
	if len(mb.Replicas) == 0 {
		return Copy{}, "", false
	}
	drop := mb.Replicas[len(mb.Replicas)-1]
	for _, r := range mb.Replicas {
		b, ok := t.backend(r.Backend)
		if !ok || b.State == BackendDown || !t.pairInSync(mb.Primary.Backend, r.Backend) {
			drop = r
			break
		}
	}
	return Copy{Backend: target, Slot: drop.Slot}, drop.Backend, true
}

// movingMailbox finds mailbox id with move moveID under way.
func (t *tables) movingMailbox(id uint64, moveID string) (*Mailbox, Move, error) {
	mb, ok := t.mailboxByID(id)
	if !ok {
		return nil, Move{}, ErrNoMailbox
	}
	mv, ok := t.move(id)
	if !ok || mv.ID != moveID {
		return nil, Move{}, fmt.Errorf("%w: no move %q of %s", ErrNoMove, moveID, mb.Name)
	}
	return mb, mv, nil
}

func (f *FSM) moveMark(c MoveMark) Result {
	old, _, err := f.work.movingMailbox(c.Mailbox, c.MoveID)
	if err != nil {
		return failed(err)
	}
	if old.State == Moving {
		return Result{Mailbox: old} // a retry
	}
	if old.State != Active {
		return failed(fmt.Errorf("%w: %s is %s", ErrNotActive, old.Name, old.State))
	}
	mb := *old
	mb.State = Moving
	f.replaceMailbox(old, &mb)
	return Result{Mailbox: &mb, Count: 1}
}

func (f *FSM) moveSwitch(c MoveSwitch) Result {
	t := f.work
	old, mv, err := t.movingMailbox(c.Mailbox, c.MoveID)
	if err != nil {
		return failed(err)
	}
	if old.State != Moving {
		return failed(fmt.Errorf("%w: %s is %s, not moving", ErrInvalidCommand, old.Name, old.State))
	}
	mb := *old
	mb.State = Active
	mb.Primary = mv.Target
	mb.Replicas = nil
	for _, r := range old.Replicas {
		if r.Backend != mv.Target.Backend && r.Backend != mv.Drop {
			mb.Replicas = append(mb.Replicas, r)
		}
	}
	if mv.KeepSource {
		mb.Replicas = append(mb.Replicas, old.Primary)
	}
	f.replaceMailbox(old, &mb)
	t.deleteMove(mb.ID)
	t.inSync = switchedPairs(t, mv, mb.Replicas)
	return Result{Mailbox: &mb, Count: 1}
}

// switchedPairs drops the pair (target, replica) for each replica that was
// not in sync with the source: the target's other mailboxes may have put
// the pair in the set, but this mailbox's copy there may lack changes the
// source acknowledged. The target's catch-up puts it back.
func switchedPairs(t *tables, mv Move, replicas []Copy) []Pair {
	out := t.inSync
	for _, r := range replicas {
		if r.Backend == mv.Source || t.pairInSync(mv.Source, r.Backend) {
			continue
		}
		p := Pair{Primary: mv.Target.Backend, Replica: r.Backend}
		if i, found := slices.BinarySearchFunc(out, p, Pair.less); found {
			out = slices.Delete(slices.Clone(out), i, i+1)
		}
	}
	return out
}

func (f *FSM) moveAbort(c MoveAbort) Result {
	old, _, err := f.work.movingMailbox(c.Mailbox, c.MoveID)
	if err != nil {
		return failed(err)
	}
	f.cancelMove(old)
	mb, _ := f.work.mailboxByID(c.Mailbox)
	return Result{Mailbox: mb, Count: 1}
}

// cancelMove ends mb's move, if any, leaving mb Active where it is.
func (f *FSM) cancelMove(mb *Mailbox) {
	t := f.work
	if _, ok := t.move(mb.ID); !ok {
		return
	}
	t.deleteMove(mb.ID)
	if mb.State == Moving {
		next := *mb
		next.State = Active
		f.replaceMailbox(mb, &next)
	}
}

// cancelMovesTo ends every move whose target is backend (it went down).
func (f *FSM) cancelMovesTo(backend string) {
	t := f.work
	for _, mv := range slices.Clone(t.moves) {
		if mv.Target.Backend != backend {
			continue
		}
		if mb, ok := t.mailboxByID(mv.Mailbox); ok {
			f.cancelMove(mb)
		} else {
			t.deleteMove(mv.Mailbox)
		}
	}
}

func (t *tables) move(id uint64) (Move, bool) {
	i, found := slices.BinarySearchFunc(t.moves, id, cmpMove)
	if !found {
		return Move{}, false
	}
	return t.moves[i], true
}

func cmpMove(m Move, id uint64) int {
	switch {
	case m.Mailbox < id:
		return -1
	case m.Mailbox > id:
		return 1
	}
	return 0
}

// putMove and deleteMove replace the slice, never an element of it: a
// published state may share the old slice.
func (t *tables) putMove(mv Move) {
	i, found := slices.BinarySearchFunc(t.moves, mv.Mailbox, cmpMove)
	next := slices.Clone(t.moves)
	if found {
		next[i] = mv
	} else {
		next = slices.Insert(next, i, mv)
	}
	t.moves = next
}

func (t *tables) deleteMove(id uint64) {
	if i, found := slices.BinarySearchFunc(t.moves, id, cmpMove); found {
		t.moves = slices.Delete(slices.Clone(t.moves), i, i+1)
	}
}

func (c MoveStart) appendTo(e *encoder) {
	e.string(c.Name)
	e.string(c.MoveID)
	e.string(c.Target)
	e.byte(boolByte(c.KeepSource))
	e.int(c.At)
}

func decodeMoveStart(d *decoder) Command {
	return MoveStart{Name: d.string(), MoveID: d.string(), Target: d.string(), KeepSource: d.bool(), At: d.int()}
}

func (c MoveMark) appendTo(e *encoder) { e.uint(c.Mailbox); e.string(c.MoveID) }

func decodeMoveMark(d *decoder) Command { return MoveMark{Mailbox: d.uint(), MoveID: d.string()} }

func (c MoveSwitch) appendTo(e *encoder) { e.uint(c.Mailbox); e.string(c.MoveID); e.int(c.At) }

func decodeMoveSwitch(d *decoder) Command {
	return MoveSwitch{Mailbox: d.uint(), MoveID: d.string(), At: d.int()}
}

func (c MoveAbort) appendTo(e *encoder) { e.uint(c.Mailbox); e.string(c.MoveID); e.int(c.At) }

func decodeMoveAbort(d *decoder) Command {
	return MoveAbort{Mailbox: d.uint(), MoveID: d.string(), At: d.int()}
}

// Snapshot records of moves (kind recMove), sorted by mailbox id.

func appendMove(e *encoder, mv Move) {
	e.uint(mv.Mailbox)
	e.string(mv.ID)
	e.string(mv.Source)
	e.string(mv.Target.Backend)
	e.uint(uint64(mv.Target.Slot))
	e.string(mv.Drop)
	e.byte(boolByte(mv.KeepSource))
	e.int(mv.At)
}

func decodeMove(d *decoder, intern map[string]string) Move {
	mv := Move{Mailbox: d.uint(), ID: d.string(), Source: d.internedString(intern)}
	mv.Target = Copy{Backend: d.internedString(intern), Slot: d.uint32()}
	mv.Drop = d.internedString(intern)
	mv.KeepSource = d.bool()
	mv.At = d.int()
	return mv
}

func (rr *restorer) move(mv Move) error {
	if n := len(rr.t.moves); n > 0 && rr.t.moves[n-1].Mailbox >= mv.Mailbox {
		return fmt.Errorf("move of mailbox %d out of order", mv.Mailbox)
	}
	if _, ok := rr.t.mailboxByID(mv.Mailbox); !ok {
		return fmt.Errorf("move of mailbox %d, which does not exist", mv.Mailbox)
	}
	if _, ok := rr.t.backend(mv.Target.Backend); !ok {
		return fmt.Errorf("move of mailbox %d to unknown backend %q", mv.Mailbox, mv.Target.Backend)
	}
	rr.t.moves = append(rr.t.moves, mv)
	return nil
}
