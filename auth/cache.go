package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// LoginCache remembers logins that were verified, for a bounded time, so
// that a client that logs in again and again with the same password pays
// for the stored hash's work (bcrypt: tens of milliseconds of CPU) once a
// TTL, not every time.
//
// An entry is keyed by the user and a digest of the stamp: for a directory
// user the stored hash itself, so a password change or a new account of
// the same name (another hash) misses; for an external source (LDAP) the
// source's name, with a TTL of its own, since the cache cannot see a
// password change there. The entry holds an HMAC-SHA256 of the password
// under a key drawn when the cache is made and never stored, never the
// password. Only successes are remembered: a wrong password always costs
// the whole check, so the cache makes guessing no cheaper.
type LoginCache struct {
	key [32]byte
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[cacheKey]cacheEntry
}

type cacheKey struct {
	user  string
	stamp [sha256.Size]byte
}

type cacheEntry struct {
	mac     [sha256.Size]byte
	expires time.Time
}

// NewLoginCache makes a cache of at most max entries.
func NewLoginCache(max int) *LoginCache {
	c := &LoginCache{max: max, now: time.Now, entries: make(map[cacheKey]cacheEntry)}
	if _, err := rand.Read(c.key[:]); err != nil {
		panic("auth: no randomness for the login cache: " + err.Error())
	}
	return c
}

func (c *LoginCache) mac(user, pw string) [sha256.Size]byte {
	h := hmac.New(sha256.New, c.key[:])
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(pw))
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// Verified reports whether user logged in with pw under stamp within the
// entry's TTL.
func (c *LoginCache) Verified(user, stamp, pw string) bool {
	if c == nil || pw == "" {
		return false
	}
	k := cacheKey{user: user, stamp: sha256.Sum256([]byte(stamp))}
	c.mu.Lock()
	e, ok := c.entries[k]
	if ok && !c.now().Before(e.expires) {
		delete(c.entries, k)
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return false
	}
	mac := c.mac(user, pw)
	return hmac.Equal(mac[:], e.mac[:])
}

// Remember records that user logged in with pw under stamp, for ttl. A
// full cache first drops its expired entries, then, if still full, one
// entry it picks at random (Go's map order).
func (c *LoginCache) Remember(user, stamp, pw string, ttl time.Duration) {
	if c == nil || ttl <= 0 || pw == "" {
		return
	}
	k := cacheKey{user: user, stamp: sha256.Sum256([]byte(stamp))}
	e := cacheEntry{mac: c.mac(user, pw), expires: c.now().Add(ttl)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.max {
		c.evictLocked()
	}
	c.entries[k] = e
}

func (c *LoginCache) evictLocked() {
	now := c.now()
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	for k := range c.entries {
		if len(c.entries) < c.max {
			return
		}
		delete(c.entries, k)
	}
}

// Len is the number of entries, expired ones included until they are
// looked up or evicted.
func (c *LoginCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// CheckPassword is the package's CheckPassword for user's stored hash,
// through the cache: a hit costs an HMAC, a miss the hash's own work, and
// a success is remembered for ttl.
func (c *LoginCache) CheckPassword(user, hash, pw string, ttl time.Duration) bool {
	if c.Verified(user, hash, pw) {
		return true
	}
	if !CheckPassword(hash, pw) {
		return false
	}
	c.Remember(user, hash, pw, ttl)
	return true
}
