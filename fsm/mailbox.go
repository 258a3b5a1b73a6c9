package fsm

import (
	"fmt"
	"slices"
	"strings"
)

// Mailbox life cycle: Reserve -> Activate (or Release), MarkDeleting ->
// Remove, Rename, and the leader's sweep of stale reservations.

// defaultStride is the number of UID slots of a mailbox with one replica.
const defaultStride = 2

func (f *FSM) registerMailboxHandlers() {
	on(f, (*FSM).reserve)
	on(f, (*FSM).activate)
	on(f, (*FSM).release)
	on(f, (*FSM).markDeleting)
	on(f, (*FSM).remove)
	on(f, (*FSM).rename)
	on(f, (*FSM).setACL)
	on(f, (*FSM).modifyACL)
	on(f, (*FSM).releaseReservations)
	on(f, (*FSM).removeDeletions)
}

func failed(err error) Result { return Result{Err: err} }

// NameTaken is why a name held by m cannot be given to a new mailbox. A
// reservation is a create still in progress, which may yet be released, so
// it is ErrNotActive (try again) rather than ErrNameExists: answering
// "exists" for a name that then vanishes with no DELETE would tell a client
// something that was never true.
func NameTaken(m *Mailbox) error {
	if m.State == Reserved {
		return fmt.Errorf("%w: %s is reserved by a create in progress", ErrNotActive, m.Name)
	}
	return fmt.Errorf("%w: %s", ErrNameExists, m.Name)
}

func (f *FSM) reserve(c Reserve) Result {
	t := f.work
	if err := ValidateName(c.Name); err != nil {
		return failed(err)
	}
	if c.Reservation == "" {
		return failed(fmt.Errorf("%w: reserve without a reservation id", ErrInvalidCommand))
	}
	if mb, ok := t.mailbox(c.Name); ok {
		return failed(NameTaken(mb))
	}
	primary, ok := t.internBackend(c.Backend)
	if !ok {
		return failed(fmt.Errorf("%w: %q", ErrNoBackend, c.Backend))
	}
	replicas, err := t.replicaCopies(primary, c.Replicas)
	if err != nil {
		return failed(err)
	}
	stride := c.Stride
	if stride == 0 {
		stride = max(defaultStride, uint32(1+len(replicas)))
	}
	if stride < uint32(1+len(replicas)) {
		return failed(fmt.Errorf("%w: stride %d for %d copies", ErrInvalidCommand, stride, 1+len(replicas)))
	}
	mb := &Mailbox{
		ID:          t.nextID,
		Name:        c.Name,
		State:       Reserved,
		UIDValidity: t.nextUIDValidity,
		Primary:     Copy{Backend: primary, Slot: 0},
		Replicas:    replicas,
		Stride:      stride,
		SpecialUse:  c.SpecialUse,
		Reservation: c.Reservation,
		ReservedBy:  primary,
		ReservedAt:  c.At,
	}
	t.nextID++
	t.nextUIDValidity++
	f.insertMailbox(mb)
	return Result{Mailbox: mb}
}

// replicaCopies turns replica backend ids into copies with slots 1.., each
// a registered backend other than the primary, none twice.
func (t *tables) replicaCopies(primary string, ids []string) ([]Copy, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	copies := make([]Copy, 0, len(ids))
	seen := map[string]bool{primary: true}
	for i, id := range ids {
		b, ok := t.internBackend(id)
		if !ok {
			return nil, fmt.Errorf("%w: replica %q", ErrNoBackend, id)
		}
		if seen[b] {
			return nil, fmt.Errorf("%w: backend %q holds two copies", ErrInvalidCommand, id)
		}
		seen[b] = true
		copies = append(copies, Copy{Backend: b, Slot: uint32(i + 1)})
	}
	return copies, nil
}

// reservedMailbox finds name in state Reserved under reservation.
func (t *tables) reservedMailbox(name, reservation string) (*Mailbox, error) {
	mb, ok := t.mailbox(name)
	if !ok {
		return nil, ErrNoMailbox
	}
	if mb.State != Reserved || mb.Reservation != reservation {
		return nil, ErrWrongReservation
	}
	return mb, nil
}

func (f *FSM) activate(c Activate) Result {
	t := f.work
	if mb, ok := t.mailbox(c.Name); ok && mb.State == Active && mb.Reservation == c.Reservation {
		// A retry of an Activate that was applied: the backend learns it
		// succeeded, and the uidvalidity stays.
		return Result{Mailbox: mb}
	}
	old, err := t.reservedMailbox(c.Name, c.Reservation)
	if err != nil {
		return failed(err)
	}
	mb := *old
	mb.State = Active
	f.replaceMailbox(old, &mb)
	return Result{Mailbox: &mb}
}

func (f *FSM) release(c Release) Result {
	old, err := f.work.reservedMailbox(c.Name, c.Reservation)
	if err != nil {
		return failed(err)
	}
	f.deleteMailbox(old)
	return Result{Mailbox: old, Count: 1}
}

func (f *FSM) markDeleting(c MarkDeleting) Result {
	old, ok := f.work.mailbox(c.Name)
	if !ok {
		return failed(ErrNoMailbox)
	}
	if old.State != Active {
		return failed(fmt.Errorf("%w: %s is %s", ErrNotActive, c.Name, old.State))
	}
	if err := f.inboxInUse(c.Name); err != nil {
		return failed(err)
	}
	mb := *old
	mb.State = Deleting
	f.replaceMailbox(old, &mb)
	return Result{Mailbox: &mb}
}

// inboxInUse refuses to delete a user's INBOX while the user exists:
// deliveries need it, and whoever holds "x" on it is not its owner. The
// INBOX goes with the account (UserDelete first).
func (f *FSM) inboxInUse(name string) error {
	owner := Owner(name)
	if owner == "" || name != Inbox(owner) {
		return nil
	}
	if _, ok := f.work.user(owner); ok {
		return fmt.Errorf("%w: %s", ErrInboxInUse, name)
	}
	return nil
}

// remove keeps subscriptions to the name: IMAP lets a client stay
// subscribed to a mailbox that does not exist.
func (f *FSM) remove(c Remove) Result {
	old, ok := f.work.mailbox(c.Name)
	if !ok || old.ID != c.ID {
		return failed(ErrNoMailbox)
	}
	f.work.deleteMove(old.ID)
	f.deleteMailbox(old)
	return Result{Mailbox: old, Count: 1}
}

// rename moves From and every mailbox below it to To in one step, ids and
// everything else unchanged.
func (f *FSM) rename(c Rename) Result {
	t := f.work
	if err := ValidateName(c.To); err != nil {
		return failed(err)
	}
	from, ok := t.mailbox(c.From)
	if !ok {
		return failed(ErrNoMailbox)
	}
	if owner := Owner(c.From); owner != "" && c.From == Inbox(owner) {
		return failed(fmt.Errorf("%w: INBOX is renamed by moving its messages", ErrInvalidCommand))
	}
	if c.To == c.From || strings.HasPrefix(c.To, c.From+string(Separator)) {
		return failed(fmt.Errorf("%w: cannot rename %s below itself", ErrInvalidCommand, c.From))
	}
	moved := []*Mailbox{from}
	t.ascendPrefix(c.From+string(Separator), func(mb *Mailbox) bool {
		moved = append(moved, mb)
		return true
	})
	renamed := make([]*Mailbox, len(moved))
	for i, old := range moved {
		if old.State != Active {
			return failed(fmt.Errorf("%w: %s is %s", ErrNotActive, old.Name, old.State))
		}
		mb := *old
		mb.Name = c.To + old.Name[len(c.From):]
		if err := ValidateName(mb.Name); err != nil {
			return failed(err)
		}
		// A name that exists only because it is moving away is free.
		if taken, ok := t.mailbox(mb.Name); ok && !inSubtree(mb.Name, c.From) {
			return failed(NameTaken(taken))
		}
		renamed[i] = &mb
	}
	for i := range moved {
		f.deleteMailbox(moved[i])
	}
	for _, mb := range renamed {
		f.insertMailbox(mb)
	}
	return Result{Mailbox: renamed[0], Count: len(renamed)}
}

// inSubtree says whether name is root or below it.
func inSubtree(name, root string) bool {
	return name == root || strings.HasPrefix(name, root+string(Separator))
}

func (f *FSM) releaseReservations(c ReleaseReservations) Result {
	if c.Backend == "" && c.Before == 0 {
		return failed(fmt.Errorf("%w: release reservations of no backend and no age", ErrInvalidCommand))
	}
	var stale []*Mailbox
	f.work.unsettled.Ascend(func(e nameEntry) bool {
		mb := e.mb
		if mb.State != Reserved {
			return true
		}
		if (c.Backend != "" && mb.ReservedBy == c.Backend) || (c.Before != 0 && mb.ReservedAt < c.Before) {
			stale = append(stale, mb)
		}
		return true
	})
	for _, mb := range stale {
		f.deleteMailbox(mb)
	}
	return Result{Count: len(stale)}
}

func (f *FSM) removeDeletions(c RemoveDeletions) Result {
	if c.Backend == "" {
		return failed(fmt.Errorf("%w: remove the deletions of no backend", ErrInvalidCommand))
	}
	var stuck []*Mailbox
	f.work.unsettled.Ascend(func(e nameEntry) bool {
		if e.mb.State == Deleting && e.mb.Primary.Backend == c.Backend {
			stuck = append(stuck, e.mb)
		}
		return true
	})
	for _, mb := range stuck {
		f.work.deleteMove(mb.ID)
		f.deleteMailbox(mb)
	}
	return Result{Count: len(stuck)}
}

// insertMailbox, replaceMailbox and deleteMailbox keep the name, id,
// unsettled, grants and per-backend indexes in step.

// unsettled says whether a mailbox in state st is on its way in or out
// (Reserved, Deleting): each such state must resolve by itself, and the
// unsettled index finds them without a walk of every mailbox.
func unsettled(st MailboxState) bool { return st == Reserved || st == Deleting }

func (f *FSM) insertMailbox(mb *Mailbox) {
	t := f.work
	t.names.ReplaceOrInsert(nameEntry{name: mb.Name, mb: mb})
	t.ids.ReplaceOrInsert(idEntry{id: mb.ID, mb: mb})
	f.dirty |= dirtyNames | dirtyIDs | t.addToIndexes(mb)
	if unsettled(mb.State) {
		t.unsettled.ReplaceOrInsert(nameEntry{name: mb.Name, mb: mb})
		f.dirty |= dirtyUnsettled
	}
}

// replaceMailbox puts mb in old's place. A change of placement (primary
// or replica set) moves the epoch on; callers never set it themselves.
func (f *FSM) replaceMailbox(old, mb *Mailbox) {
	mb.Epoch = old.Epoch
	if placementChanged(old, mb) {
		mb.Epoch++
	}
	if old.Name != mb.Name || old.ID != mb.ID {
		f.deleteMailbox(old)
		f.insertMailbox(mb)
		return
	}
	if unsettled(old.State) && !unsettled(mb.State) {
		f.work.unsettled.Delete(nameEntry{name: old.Name})
		f.dirty |= dirtyUnsettled
	}
	f.dirty |= f.work.dropFromIndexes(old)
	f.insertMailbox(mb)
}

func (f *FSM) deleteMailbox(mb *Mailbox) {
	t := f.work
	t.names.Delete(nameEntry{name: mb.Name})
	t.ids.Delete(idEntry{id: mb.ID})
	f.dirty |= dirtyNames | dirtyIDs | t.dropFromIndexes(mb)
	if unsettled(mb.State) {
		t.unsettled.Delete(nameEntry{name: mb.Name})
		f.dirty |= dirtyUnsettled
	}
}

// placementChanged says whether mb has another primary or another set of
// replicas than old. Slots travel with their backends, so a change of
// slot alone is no change of placement.
func placementChanged(old, mb *Mailbox) bool {
	if old.Primary.Backend != mb.Primary.Backend || len(old.Replicas) != len(mb.Replicas) {
		return true
	}
	for _, r := range old.Replicas {
		if !slices.ContainsFunc(mb.Replicas, func(c Copy) bool { return c.Backend == r.Backend }) {
			return true
		}
	}
	return false
}
