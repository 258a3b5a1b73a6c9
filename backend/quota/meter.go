package quota

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
)

// The meter's bounds, as documented in the package comment.
const (
	// DefaultCacheFor is how long another backend's figure is used
	// without asking again.
	DefaultCacheFor = 2 * time.Second
	// DefaultStaleFor is how old a figure may be and still be used when
	// its backend cannot be reached.
	DefaultStaleFor = 30 * time.Second
	// DefaultTimeout bounds one call to another backend.
	DefaultTimeout = 2 * time.Second
)

// Usage is what a user's mail takes: bytes and messages.
type Usage struct {
	Bytes    int64 `json:"bytes"`
	Messages int64 `json:"messages"`
}

func (u *Usage) add(o Usage) { u.Bytes += o.Bytes; u.Messages += o.Messages }

// Remote reads a user's share on another backend: what its spool holds in
// the user's mailboxes it is primary for (Meter.Share, on that backend),
// once its copy of the directory has applied index, so that both sides
// place the mailboxes alike.
type Remote interface {
	Share(ctx context.Context, be fsm.Backend, user string, index uint64) (Usage, error)
}

// MeterConfig is what NewMeter needs.
type MeterConfig struct {
	// Backend and Store are this backend's id and spool, whose share is
	// read locally; both empty on a node without the backend role, where
	// every share is remote.
	Backend string
	Store   Store
	// Remote reads the other backends' shares.
	Remote Remote
	// CacheFor: 0 means DefaultCacheFor, negative never uses a figure
	// without asking (a reader that must see every write before it).
	CacheFor time.Duration
	// StaleFor: 0 means DefaultStaleFor, negative never admits on a
	// figure its backend did not just give.
	StaleFor time.Duration
	// Timeout: 0 means DefaultTimeout.
	Timeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Meter counts users' usage across backends: this backend's share from
// its spool, the others' from their cluster API, each remembered for a
// while. It is safe for concurrent use.
type Meter struct {
	cfg MeterConfig

	mu     sync.Mutex
	shares map[shareKey]share // under mu
}

type shareKey struct{ backend, user string }

type share struct {
	Usage
	at time.Time
}

// NewMeter is a meter with c, defaults filled in.
func NewMeter(c MeterConfig) *Meter {
	if c.CacheFor == 0 {
		c.CacheFor = DefaultCacheFor
	}
	if c.StaleFor == 0 {
		c.StaleFor = DefaultStaleFor
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Meter{cfg: c, shares: make(map[shareKey]share)}
}

// Share is what this backend's spool holds in user's mailboxes that dir
// names it primary for.
func (m *Meter) Share(dir *fsm.View, user string) (Usage, error) {
	var u Usage
	var err error
	if m.cfg.Store == nil {
		return u, nil
	}
	dir.Mailboxes(userPrefix(user), func(mb *fsm.Mailbox) bool {
		if mb.Primary.Backend != m.cfg.Backend {
			return true
		}
		st, serr := m.cfg.Store.Status(mb.ID)
		if serr != nil && !errors.Is(serr, spool.ErrNoMailbox) {
			err = fmt.Errorf("quota: usage of %s: %w", user, serr)
			return false
		}
		u.Bytes += st.Size
		u.Messages += int64(st.Messages)
		return true
	})
	return u, err
}

// Usage is everything user's mailboxes hold, on every backend dir names
// primary for one of them. A user whose mailboxes are all on this backend
// costs no remote call.
func (m *Meter) Usage(ctx context.Context, dir *fsm.View, user string) (Usage, error) {
	u, err := m.Share(dir, user)
	if err != nil {
		return Usage{}, err
	}
	others := m.otherBackends(dir, user)
	if len(others) == 0 {
		return u, nil
	}
	shares := make([]Usage, len(others))
	errs := make([]error, len(others))
	var wg sync.WaitGroup
	for i, be := range others {
		wg.Add(1)
		go func() {
			defer wg.Done()
			shares[i], errs[i] = m.remoteShare(ctx, be, user, dir.Index())
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Usage{}, err
	}
	for _, s := range shares {
		u.add(s)
	}
	return u, nil
}

// otherBackends are the backends other than this one that dir names
// primary for one of user's mailboxes, in the order first met.
func (m *Meter) otherBackends(dir *fsm.View, user string) []fsm.Backend {
	var out []fsm.Backend
	seen := map[string]bool{m.cfg.Backend: m.cfg.Store != nil}
	dir.Mailboxes(userPrefix(user), func(mb *fsm.Mailbox) bool {
		id := mb.Primary.Backend
		if seen[id] {
			return true
		}
		seen[id] = true
		be := fsm.Backend{ID: id}
		if b, ok := dir.Backend(id); ok {
			be = *b
		}
		out = append(out, be)
		return true
	})
	return out
}

// remoteShare is be's share of user: remembered if read within CacheFor,
// else asked for; when be cannot answer, the last figure if it is at most
// StaleFor old, else ErrUnavailable.
func (m *Meter) remoteShare(ctx context.Context, be fsm.Backend, user string, index uint64) (Usage, error) {
	key := shareKey{be.ID, user}
	m.mu.Lock()
	last, known := m.shares[key]
	m.mu.Unlock()
	if known && m.cfg.CacheFor > 0 && m.cfg.Now().Sub(last.at) <= m.cfg.CacheFor {
		return last.Usage, nil
	}
	var u Usage
	var err error
	if be.APIAddr == "" || m.cfg.Remote == nil {
		err = fmt.Errorf("backend %s has no cluster API address", be.ID)
	} else {
		cctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
		u, err = m.cfg.Remote.Share(cctx, be, user, index)
		cancel()
	}
	now := m.cfg.Now()
	if err != nil {
		if known && m.cfg.StaleFor > 0 && now.Sub(last.at) <= m.cfg.StaleFor {
			return last.Usage, nil
		}
		return Usage{}, fmt.Errorf("%w: %s on %s: %w", ErrUnavailable, user, be.ID, err)
	}
	m.mu.Lock()
	if old, ok := m.shares[key]; !ok || !old.at.After(now) {
		m.shares[key] = share{Usage: u, at: now}
	}
	if len(m.shares) > maxShares {
		m.forgetLocked(now)
	}
	m.mu.Unlock()
	return u, nil
}

// maxShares is how many figures the meter holds before it forgets those
// too old to be used.
const maxShares = 4096

// forgetLocked drops the figures older than both bounds.
func (m *Meter) forgetLocked(now time.Time) {
	keep := max(m.cfg.CacheFor, m.cfg.StaleFor)
	for k, s := range m.shares {
		if now.Sub(s.at) > keep {
			delete(m.shares, k)
		}
	}
}

func userPrefix(user string) string {
	return "user" + string(fsm.Separator) + user + string(fsm.Separator)
}
