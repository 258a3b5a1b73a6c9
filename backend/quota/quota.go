// Package quota enforces users' storage quotas on a backend. A user's
// limit is in the directory (fsm.User.QuotaBytes, 0 for none); what they
// use is what this backend's spool holds in the mailboxes of their
// namespace that it is primary for. A user's mailboxes normally live on one
// backend, so each backend counting its own share is the whole count.
//
// The check comes before the write and is not serialised with other
// writers: two deliveries racing past it can leave a user one message over,
// as in most IMAP servers, never more than that per concurrent writer.
package quota

import (
	"errors"
	"fmt"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
)

// ErrOver: the message would take its mailbox's owner past their quota.
var ErrOver = errors.New("quota: over quota")

// Store is the part of the spool a ledger reads.
type Store interface {
	Status(id uint64) (spool.Status, error)
}

// Ledger admits messages against their owners' quotas for one transaction
// (an APPEND, a COPY, one LMTP delivery): it counts each owner's usage once
// and adds what it has admitted, so recipients of one user in one delivery
// are counted together.
type Ledger struct {
	dir     *fsm.View
	store   Store
	backend string
	owners  map[string]*account
}

type account struct {
	used, limit int64
}

// NewLedger is a ledger for backend's share of store, under the quotas of
// dir, one view of the directory for the whole transaction.
func NewLedger(dir *fsm.View, store Store, backend string) *Ledger {
	return &Ledger{dir: dir, store: store, backend: backend}
}

// Admit takes n more bytes into mailbox, or refuses them with ErrOver
// when they would take its owner past their quota. Mailboxes outside a
// user's namespace, and users with no quota, take anything.
func (l *Ledger) Admit(mailbox string, n int64) error {
	owner, a, err := l.limited(mailbox)
	if a == nil {
		return err
	}
	if a.used+n > a.limit {
		return fmt.Errorf("%w: %s uses %d of %d bytes and %s would add %d", ErrOver, owner, a.used, a.limit, mailbox, n)
	}
	a.used += n
	return nil
}

// Full reports, with ErrOver, an owner already at their limit: no message
// can be admitted into mailbox whatever its size.
func (l *Ledger) Full(mailbox string) error {
	owner, a, err := l.limited(mailbox)
	if a == nil {
		return err
	}
	if a.used >= a.limit {
		return fmt.Errorf("%w: %s uses %d of %d bytes", ErrOver, owner, a.used, a.limit)
	}
	return nil
}

// limited is the account of mailbox's owner, or nil when the mailbox is
// outside a user's namespace, its owner has no quota, or (with err) the
// usage could not be read.
func (l *Ledger) limited(mailbox string) (owner string, a *account, err error) {
	owner = fsm.Owner(mailbox)
	if owner == "" {
		return "", nil, nil
	}
	a, err = l.account(owner)
	if err != nil || a.limit <= 0 {
		return owner, nil, err
	}
	return owner, a, nil
}

func (l *Ledger) account(owner string) (*account, error) {
	if a, ok := l.owners[owner]; ok {
		return a, nil
	}
	a := &account{}
	if u, ok := l.dir.User(owner); ok {
		a.limit = u.QuotaBytes
	}
	if a.limit > 0 {
		used, err := l.usage(owner)
		if err != nil {
			return nil, err
		}
		a.used = used
	}
	if l.owners == nil {
		l.owners = make(map[string]*account)
	}
	l.owners[owner] = a
	return a, nil
}

// usage adds up what owner's mailboxes hold on this backend.
func (l *Ledger) usage(owner string) (int64, error) {
	var used int64
	var err error
	prefix := "user" + string(fsm.Separator) + owner + string(fsm.Separator)
	l.dir.Mailboxes(prefix, func(mb *fsm.Mailbox) bool {
		if mb.Primary.Backend != l.backend {
			return true
		}
		st, serr := l.store.Status(mb.ID)
		if serr != nil && !errors.Is(serr, spool.ErrNoMailbox) {
			err = fmt.Errorf("quota: usage of %s: %w", owner, serr)
			return false
		}
		used += st.Size
		return true
	})
	return used, err
}
