// Package quota enforces users' storage quotas. A user's limit is in the
// directory (fsm.User.QuotaBytes, 0 for none); what they use is what the
// spools of every backend hold in the mailboxes of their namespace, each
// mailbox counted on the backend the directory names its primary.
//
// The backend admitting a write (APPEND, COPY, MOVE, an LMTP delivery)
// reads its own share from its spool and asks each other backend that is
// primary for one of the user's mailboxes for its share, over the cluster
// API (GET /v1/backend/usage/{user}?index=N: that backend counts once its
// copy of the directory has applied the asker's index N, so a mailbox
// that a failover or a move placed there is counted there, once). A user
// whose mailboxes all live on one backend, the usual case, costs no
// remote call. Another backend's
// figure is used for up to DefaultCacheFor (2 s) without asking again, so
// a user can pass the limit by what they wrote on other backends in the
// last 2 s. When a backend cannot be reached, its last figure is used if it
// is at most DefaultStaleFor (30 s) old, else the write is refused as a
// temporary failure (ErrUnavailable: NO [UNAVAILABLE], LMTP 451): the mail
// waits rather than pass a limit nobody can check, and a failover or a
// down backend's brief absence does not bounce anything. What a backend
// out of reach takes in meanwhile (across a partition) is all a user can
// gain that way, for at most 30 s.
//
// The check comes before the write and is not serialised with other
// writers: two deliveries racing past it can leave a user one message over,
// as in most IMAP servers, never more than that per concurrent writer.
package quota

import (
	"context"
	"fmt"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
)

// Store is the part of the spool a meter reads.
type Store interface {
	Status(id uint64) (spool.Status, error)
}

// Ledger admits messages against their owners' quotas for one transaction
// (an APPEND, a COPY, one LMTP delivery): it counts each owner's usage once
// and adds what it has admitted, so recipients of one user in one delivery
// are counted together.
type Ledger struct {
	ctx    context.Context
	dir    *fsm.View
	meter  *Meter
	owners map[string]*account
}

type account struct {
	used, limit int64
}

// NewLedger is a ledger for one transaction that ctx bounds, counting
// with meter under the quotas of dir, one view of the directory for the
// whole transaction.
func NewLedger(ctx context.Context, dir *fsm.View, meter *Meter) *Ledger {
	return &Ledger{ctx: ctx, dir: dir, meter: meter}
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
		u, err := l.meter.Usage(l.ctx, l.dir, owner)
		if err != nil {
			return nil, err
		}
		a.used = u.Bytes
	}
	if l.owners == nil {
		l.owners = make(map[string]*account)
	}
	l.owners[owner] = a
	return a, nil
}
