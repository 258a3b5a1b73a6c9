package fsm

import (
	"fmt"
	"slices"
)

// Reads use the published state: no lock, no waiting for Apply or Persist.
// The records they return are never changed, so callers may keep them.

// Mailbox looks up a mailbox by canonical name.
func (f *FSM) Mailbox(name string) (*Mailbox, bool) {
	return f.cur.Load().mailbox(name)
}

// MailboxByID looks up a mailbox by id.
func (f *FSM) MailboxByID(id uint64) (*Mailbox, bool) {
	return f.cur.Load().mailboxByID(id)
}

// Mailboxes calls fn for every mailbox whose name starts with prefix, in
// name order, until fn returns false. It sees one state throughout, however
// long it takes.
func (f *FSM) Mailboxes(prefix string, fn func(*Mailbox) bool) {
	f.cur.Load().ascendPrefix(prefix, fn)
}

// MailboxCount is the number of mailboxes in any state.
func (f *FSM) MailboxCount() int {
	return f.cur.Load().names.Len()
}

// Reservations calls fn for every mailbox in state Reserved, in name order,
// until fn returns false. A backend resolves its own on start.
func (f *FSM) Reservations(fn func(*Mailbox) bool) {
	f.cur.Load().reserved.Ascend(func(e nameEntry) bool { return fn(e.mb) })
}

// User looks up a user; name need not be canonical.
func (f *FSM) User(name string) (*User, bool) {
	canon, err := CanonicalUser(name)
	if err != nil {
		return nil, false
	}
	return f.cur.Load().user(canon)
}

// Users calls fn for every user in name order until fn returns false.
func (f *FSM) Users(fn func(*User) bool) {
	f.cur.Load().users.Ascend(func(u *User) bool { return fn(u) })
}

// Subscriptions lists the names user is subscribed to, sorted.
func (f *FSM) Subscriptions(user string) []string {
	canon, err := CanonicalUser(user)
	if err != nil {
		return nil
	}
	return f.cur.Load().subscriptions(canon)
}

// Backend looks up a backend by id.
func (f *FSM) Backend(id string) (*Backend, bool) {
	return f.cur.Load().backend(id)
}

// Backends lists every backend sorted by id.
func (f *FSM) Backends() []*Backend {
	return slices.Clone(f.cur.Load().backends)
}

// DeliveryTarget is the mailbox an LMTP delivery to user (with an optional
// +detail) goes to: the user's folder named by detail when it exists and
// takes mail, else the INBOX. The user must exist and be active
// (ErrNoUser); the INBOX must exist and take mail (ErrNoMailbox). A mailbox
// that is moving is returned with ErrMailboxMoving: the delivery must be
// retried later, not refused.
func (f *FSM) DeliveryTarget(user, detail string) (*Mailbox, error) {
	st := f.cur.Load()
	name, err := CanonicalUser(user)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoUser, err)
	}
	if u, ok := st.user(name); !ok || u.State != UserActive {
		return nil, ErrNoUser
	}
	if detail != "" {
		// Only the user's own folders: a detail never reaches another
		// user's or a shared mailbox.
		if folder, err := Internal(name, detail); err == nil && Owner(folder) == name {
			if mb, ok := st.mailbox(folder); ok && takesMail(mb) {
				return deliverable(mb)
			}
		}
	}
	mb, ok := st.mailbox(Inbox(name))
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
