package imapfront

import (
	"sync"
	"time"
)

// Failed logins slow the next attempts down, as Dovecot's auth penalty
// does: each failure from a client address, and each failure for a user
// from anywhere, doubles the delay before the next password check for
// that address or user, from LoginPenaltyBase up to LoginPenaltyMax. A
// login is never refused for past failures, so the real user gets in
// with the right password after at most LoginPenaltyMax. Counts are
// forgotten FailedLoginWindow after the last failure, and a successful
// login clears its address and user.
//
// Failures are shared with the cluster's other frontends through
// Config.Penalties (a memberlist broadcast on a node): each frontend keeps
// its own table and adds what the others report, so no failed login costs
// a Raft write and a peer that is unreachable only weakens the penalty.

// PenaltyHint is one failed login (Failed) or a successful one, as
// frontends tell each other. Addr is the client's IP; User is the login
// name as canonicalised, empty when it was not a valid name.
type PenaltyHint struct {
	Addr   string
	User   string
	Failed bool
}

// PenaltyPeers carries hints to the other frontends of the cluster. Publish
// must not block: it is called on the login path.
type PenaltyPeers interface {
	Publish(PenaltyHint)
}

// maxPenaltyEntries bounds the table; past it, expired entries are dropped
// and then the oldest half.
const maxPenaltyEntries = 100000

type penaltyEntry struct {
	failures int
	last     time.Time
}

// loginPenalty counts failed logins by address and by user.
type loginPenalty struct {
	base, max, window time.Duration

	mu      sync.Mutex
	entries map[string]*penaltyEntry // "a" + addr, "u" + user
}

func newLoginPenalty(base, max, window time.Duration) *loginPenalty {
	return &loginPenalty{base: base, max: max, window: window, entries: make(map[string]*penaltyEntry)}
}

func penaltyKeys(addr, user string) []string {
	keys := []string{"a" + addr}
	if user != "" {
		keys = append(keys, "u"+user)
	}
	return keys
}

// delay is how long to wait before checking a password from addr for user.
func (p *loginPenalty) delay(addr, user string) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, k := range penaltyKeys(addr, user) {
		if e := p.liveLocked(k); e != nil {
			n = max(n, e.failures)
		}
	}
	if n == 0 {
		return 0
	}
	d := p.base
	for i := 1; i < n && d < p.max; i++ {
		d *= 2
	}
	return min(d, p.max)
}

// note records a hint, local or from a peer.
func (p *loginPenalty) note(h PenaltyHint) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range penaltyKeys(h.Addr, h.User) {
		if !h.Failed {
			delete(p.entries, k)
			continue
		}
		e := p.liveLocked(k)
		if e == nil {
			e = &penaltyEntry{}
			p.entries[k] = e
		}
		e.failures++
		e.last = time.Now()
	}
	if len(p.entries) > maxPenaltyEntries {
		p.pruneLocked()
	}
}

// liveLocked returns k's entry unless it has expired (then it is dropped).
func (p *loginPenalty) liveLocked(k string) *penaltyEntry {
	e := p.entries[k]
	if e != nil && time.Since(e.last) > p.window {
		delete(p.entries, k)
		return nil
	}
	return e
}

func (p *loginPenalty) pruneLocked() {
	for k := range p.entries {
		p.liveLocked(k)
	}
	for k := range p.entries {
		if len(p.entries) <= maxPenaltyEntries/2 {
			return
		}
		delete(p.entries, k) // map order: an arbitrary half
	}
}
