package fsm

import (
	"fmt"
	"slices"
)

// Reads use a published View: no lock, no waiting for Apply or Persist.
// The records they return are never changed, so callers may keep them.
// The FSM's own read methods read the latest View; a caller that reads
// more than once and needs the answers to agree takes one View and reads
// through it.

// View returns the latest published state, pinned: later writes never
// change it.
func (f *FSM) View() *View { return f.cur.Load() }

// Index is the log index of the last command applied to v (or restored
// from a snapshot): every write acknowledged at or below it is in v.
func (v *View) Index() uint64 { return v.applied }

// Mailbox looks up a mailbox by canonical name.
func (v *View) Mailbox(name string) (*Mailbox, bool) { return v.mailbox(name) }

// MailboxByID looks up a mailbox by id.
func (v *View) MailboxByID(id uint64) (*Mailbox, bool) { return v.mailboxByID(id) }

// Mailboxes calls fn for every mailbox whose name starts with prefix, in
// name order, until fn returns false.
func (v *View) Mailboxes(prefix string, fn func(*Mailbox) bool) { v.ascendPrefix(prefix, fn) }

// MailboxCount is the number of mailboxes in any state.
func (v *View) MailboxCount() int { return v.names.Len() }

// Reservations calls fn for every mailbox in state Reserved, in name order,
// until fn returns false. A backend resolves its own on start.
func (v *View) Reservations(fn func(*Mailbox) bool) {
	v.unsettled.Ascend(func(e nameEntry) bool { return e.mb.State != Reserved || fn(e.mb) })
}

// Deletions calls fn for every mailbox in state Deleting, in name order,
// until fn returns false: deletes begun and not yet finished.
func (v *View) Deletions(fn func(*Mailbox) bool) {
	v.unsettled.Ascend(func(e nameEntry) bool { return e.mb.State != Deleting || fn(e.mb) })
}

// User looks up a user; name need not be canonical.
func (v *View) User(name string) (*User, bool) {
	canon, err := CanonicalUser(name)
	if err != nil {
		return nil, false
	}
	return v.user(canon)
}

// Users calls fn for every user in name order until fn returns false.
func (v *View) Users(fn func(*User) bool) {
	v.users.Ascend(func(u *User) bool { return fn(u) })
}

// Subscriptions lists the names user is subscribed to, sorted.
func (v *View) Subscriptions(user string) []string {
	canon, err := CanonicalUser(user)
	if err != nil {
		return nil
	}
	return v.subscriptions(canon)
}

// Backend looks up a backend by id.
func (v *View) Backend(id string) (*Backend, bool) { return v.backend(id) }

// Backends lists every backend sorted by id.
func (v *View) Backends() []*Backend { return slices.Clone(v.backends) }

// InSync reports whether replica holds everything primary has acknowledged.
func (v *View) InSync(primary, replica string) bool { return v.pairInSync(primary, replica) }

// InSyncPairs lists the in-sync pairs sorted by primary, then replica.
func (v *View) InSyncPairs() []Pair { return slices.Clone(v.inSync) }

// MoveOf returns the move of mailbox id under way, if any.
func (v *View) MoveOf(id uint64) (Move, bool) { return v.move(id) }

// Moves lists the moves under way, by mailbox id.
func (v *View) Moves() []Move { return slices.Clone(v.moves) }

// CopyOn is the slot of backend's copy of mb, if the directory places one
// there: as primary, replica or move target.
func (v *View) CopyOn(mb *Mailbox, backend string) (uint32, bool) {
	if mb.Primary.Backend == backend {
		return mb.Primary.Slot, true
	}
	for _, r := range mb.Replicas {
		if r.Backend == backend {
			return r.Slot, true
		}
	}
	if mv, ok := v.move(mb.ID); ok && mv.Target.Backend == backend {
		return mv.Target.Slot, true
	}
	return 0, false
}

// DeliveryTarget is the mailbox an LMTP delivery to user (with an optional
// +detail) goes to: the user's folder named by detail when it exists and
// takes mail, else the INBOX. The user must exist and be active
// (ErrNoUser); the INBOX must exist and take mail (ErrNoMailbox). A mailbox
// that is moving is returned with ErrMailboxMoving: the delivery must be
// retried later, not refused.
func (v *View) DeliveryTarget(user, detail string) (*Mailbox, error) {
	name, err := CanonicalUser(user)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoUser, err)
	}
	if u, ok := v.user(name); !ok || u.State != UserActive {
		return nil, ErrNoUser
	}
	if detail != "" {
		// Only the user's own folders: a detail never reaches another
		// user's or a shared mailbox; and only one that takes posts (the
		// Cyrus rule, see MayPost), else a sender could file into Sent.
		if folder, err := Internal(name, detail); err == nil && Owner(folder) == name {
			if mb, ok := v.mailbox(folder); ok && takesMail(mb) && MayPost(mb) {
				return deliverable(mb)
			}
		}
	}
	mb, ok := v.mailbox(Inbox(name))
	if !ok || !takesMail(mb) {
		return nil, fmt.Errorf("%w: %s", ErrNoMailbox, Inbox(name))
	}
	return deliverable(mb)
}

func takesMail(mb *Mailbox) bool { return mb.State == Active || mb.State == Moving }

func deliverable(mb *Mailbox) (*Mailbox, error) {
	if mb.State == Moving {
		return mb, ErrMailboxMoving
	}
	return mb, nil
}

// The FSM's read methods, each over the latest View.

func (f *FSM) Mailbox(name string) (*Mailbox, bool)            { return f.View().Mailbox(name) }
func (f *FSM) MailboxByID(id uint64) (*Mailbox, bool)          { return f.View().MailboxByID(id) }
func (f *FSM) Mailboxes(prefix string, fn func(*Mailbox) bool) { f.View().Mailboxes(prefix, fn) }
func (f *FSM) MailboxCount() int                               { return f.View().MailboxCount() }
func (f *FSM) Reservations(fn func(*Mailbox) bool)             { f.View().Reservations(fn) }
func (f *FSM) User(name string) (*User, bool)                  { return f.View().User(name) }
func (f *FSM) Users(fn func(*User) bool)                       { f.View().Users(fn) }
func (f *FSM) Subscriptions(user string) []string              { return f.View().Subscriptions(user) }
func (f *FSM) Backend(id string) (*Backend, bool)              { return f.View().Backend(id) }
func (f *FSM) Backends() []*Backend                            { return f.View().Backends() }
func (f *FSM) InSync(primary, replica string) bool             { return f.View().InSync(primary, replica) }
func (f *FSM) InSyncPairs() []Pair                             { return f.View().InSyncPairs() }
func (f *FSM) MoveOf(id uint64) (Move, bool)                   { return f.View().MoveOf(id) }
func (f *FSM) Moves() []Move                                   { return f.View().Moves() }
func (f *FSM) CopyOn(mb *Mailbox, backend string) (uint32, bool) {
	return f.View().CopyOn(mb, backend)
}
func (f *FSM) DeliveryTarget(user, detail string) (*Mailbox, error) {
	return f.View().DeliveryTarget(user, detail)
}
