package fsm

import (
	"errors"
	"slices"
	"testing"
)

func TestDomainRules(t *testing.T) {
	f := newTestFSM(t)
	f.fails(DomainAdd{Name: "[127.0.0.1]"}, ErrInvalidDomain)
	f.fails(DomainAdd{Name: "bad domain"}, ErrInvalidDomain)
	f.fails(DomainRemove{Name: "example.org"}, ErrNoDomain)

	// The first domain is the default whatever the command says.
	if r := f.ok(DomainAdd{Name: "Example.ORG"}); r.Count != 1 {
		t.Fatalf("count %d", r.Count)
	}
	f.ok(DomainAdd{Name: "example.net"})
	if got := f.View().Domains(); !slices.Equal(got, []Domain{{"example.net", false}, {"example.org", true}}) {
		t.Fatalf("domains %v", got)
	}
	if r := f.ok(DomainAdd{Name: "example.net"}); r.Count != 0 {
		t.Fatalf("re-adding counted %d", r.Count)
	}
	f.ok(DomainAdd{Name: "example.net", Default: true})
	if got := f.View().DefaultDomain(); got != "example.net" {
		t.Fatalf("default %q", got)
	}
	f.fails(DomainRemove{Name: "example.net"}, ErrDomainInUse)

	f.fails(AliasAdd{Address: "info@example.com", User: "alice"}, ErrNoDomain)
	f.fails(AliasAdd{Address: "info@example.org", User: "carol"}, ErrNoUser)
	f.fails(AliasAdd{Address: "info", User: "alice"}, ErrInvalidAddress)
	f.fails(AliasAdd{Address: "in+fo@example.org", User: "alice"}, ErrInvalidAddress)
	// alice is a user of the default domain: alice@example.net is hers.
	f.fails(AliasAdd{Address: "alice@example.net", User: "bob"}, ErrAddressTaken)
	f.ok(AliasAdd{Address: "Info@Example.org", User: "alice"})
	if r := f.ok(AliasAdd{Address: "info@example.org", User: "alice"}); r.Count != 0 {
		t.Fatalf("re-adding counted %d", r.Count)
	}
	f.fails(AliasAdd{Address: "info@example.org", User: "bob"}, ErrAddressTaken)
	f.fails(DomainRemove{Name: "example.org"}, ErrDomainInUse)
	// No user is added under an alias's address.
	f.fails(UserAdd{Name: "info@example.org", PasswordHash: "h"}, ErrAddressTaken)
	f.ok(AliasAdd{Address: "sales@example.net", User: "bob"})
	f.fails(UserAdd{Name: "sales", PasswordHash: "h"}, ErrAddressTaken)

	// Deleting a user drops its aliases.
	f.ok(UserDelete{Name: "alice"})
	if _, ok := f.View().Alias("info@example.org"); ok {
		t.Fatal("alias of a deleted user remains")
	}
	f.ok(DomainRemove{Name: "example.org"})
	f.fails(AliasRemove{Address: "info@example.org"}, ErrNoAlias)
	f.ok(AliasRemove{Address: "sales@example.net"})
	f.ok(DomainRemove{Name: "example.net"})
	if len(f.View().Domains()) != 0 || !f.View().Serves("any.where") {
		t.Fatalf("domains %v after removing all", f.View().Domains())
	}
}

func TestDeliverAndLoginByDomain(t *testing.T) {
	f := newTestFSM(t)
	f.create("user/alice/INBOX")
	f.ok(UserAdd{Name: "carol@example.net", PasswordHash: "h"})
	f.create("user/carol@example.net/INBOX")
	deliver := func(addr string) (string, error) {
		t.Helper()
		r, err := ParseRecipient(addr)
		if err != nil {
			t.Fatal(err)
		}
		user, _, err := f.View().Deliver(r)
		return user, err
	}
	login := func(name string) string {
		u, ok := f.View().LoginUser(name)
		if !ok {
			return ""
		}
		return u.Name
	}

	// No domains: every domain is served, as before domains existed.
	if u, err := deliver("alice@any.domain"); err != nil || u != "alice" {
		t.Fatalf("no domains: %q %v", u, err)
	}
	if got := login("alice@any.domain"); got != "" {
		t.Fatalf("no domains: login alice@any.domain is %q", got)
	}

	f.ok(DomainAdd{Name: "example.org"})
	f.ok(DomainAdd{Name: "example.net"})
	f.ok(AliasAdd{Address: "postmaster@example.net", User: "alice"})
	for _, c := range []struct {
		addr, user string
		err        error
	}{
		{"alice@example.org", "alice", nil},
		{"Alice+lists@EXAMPLE.org", "alice", nil},
		{"alice@example.net", "", ErrNoUser}, // alice is of the default domain only
		{"alice@any.domain", "", ErrNoDomain},
		{"carol@example.net", "carol@example.net", nil},
		{"carol@example.org", "", ErrNoUser},
		{"postmaster@example.net", "alice", nil},
		{"postmaster+x@example.net", "alice", nil},
		{"postmaster@example.org", "", ErrNoUser},
	} {
		u, err := deliver(c.addr)
		if u != c.user || !errors.Is(err, c.err) {
			t.Errorf("deliver %s: %q %v, want %q %v", c.addr, u, err, c.user, c.err)
		}
	}
	for name, want := range map[string]string{
		"alice": "alice", "ALICE@example.org": "alice", "alice@example.net": "",
		"carol@example.net": "carol@example.net", "carol": "", "postmaster@example.net": "",
		"alice@any.domain": "",
	} {
		if got := login(name); got != want {
			t.Errorf("login %s: %q, want %q", name, got, want)
		}
	}
}
