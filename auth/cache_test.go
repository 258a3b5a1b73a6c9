package auth

import (
	"fmt"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestLoginCache(t *testing.T) {
	h1, _ := HashPasswordCost("pw1", bcrypt.MinCost)
	h2, _ := HashPasswordCost("pw2", bcrypt.MinCost)
	c := NewLoginCache(10)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }

	if c.Verified("alice", h1, "pw1") {
		t.Fatal("verified before any login")
	}
	if !c.CheckPassword("alice", h1, "pw1", time.Minute) || !c.Verified("alice", h1, "pw1") {
		t.Fatal("a verified login is not remembered")
	}
	// A wrong password is checked in full, and never remembered.
	if c.CheckPassword("alice", h1, "wrong", time.Minute) || c.Verified("alice", h1, "wrong") {
		t.Fatal("a wrong password passed")
	}
	// A password change is another stored hash: the old password misses,
	// and the old one's entry does not let the new hash accept it.
	if c.Verified("alice", h2, "pw1") || c.CheckPassword("alice", h2, "pw1", time.Minute) {
		t.Fatal("the old password passed after a change")
	}
	// Another user with the same hash and password has its own entry.
	if c.Verified("bob", h1, "pw1") {
		t.Fatal("alice's entry verified bob")
	}
	now = now.Add(time.Minute)
	if c.Verified("alice", h1, "pw1") {
		t.Fatal("an entry outlived its TTL")
	}
	// An external source's entries are bounded by their own TTL.
	c.Remember("carol", "ldap", "pw", 5*time.Second)
	now = now.Add(4 * time.Second)
	if !c.Verified("carol", "ldap", "pw") {
		t.Fatal("ldap entry lost early")
	}
	now = now.Add(time.Second)
	if c.Verified("carol", "ldap", "pw") {
		t.Fatal("ldap entry outlived its TTL")
	}
}

func TestLoginCacheBounded(t *testing.T) {
	c := NewLoginCache(8)
	for i := range 100 {
		c.Remember(fmt.Sprint("u", i), "h", "pw", time.Hour)
		if c.Len() > 8 {
			t.Fatalf("%d entries in a cache of 8", c.Len())
		}
	}
	if !c.Verified("u99", "h", "pw") {
		t.Fatal("the newest entry was evicted")
	}
}

// BenchmarkLogin compares a bcrypt check at the default cost with a
// cache hit.
func BenchmarkLogin(b *testing.B) {
	h, _ := HashPassword("s3cret-pw")
	b.Run("uncached", func(b *testing.B) {
		for b.Loop() {
			if !CheckPassword(h, "s3cret-pw") {
				b.Fatal("refused")
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		c := NewLoginCache(1000)
		for b.Loop() {
			if !c.CheckPassword("alice", h, "s3cret-pw", time.Minute) {
				b.Fatal("refused")
			}
		}
	})
}
