package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/internal/slapdtest"
)

func TestLDAPAgainstSlapd(t *testing.T) {
	srv := slapdtest.Start(t)
	ctx := context.Background()
	searchBind, err := auth.NewLDAP(auth.LDAPConfig{URL: srv.URL, BindDN: slapdtest.ReaderDN, BindPassword: slapdtest.ReaderPW,
		BaseDN: slapdtest.BaseDN, Filter: "(&(objectClass=inetOrgPerson)(|(uid=%s)(mail=%s)))", UserAttribute: "mail", Timeout: 2 * time.Second, PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer searchBind.Close()
	direct, err := auth.NewLDAP(auth.LDAPConfig{URL: srv.URL, DNTemplate: "uid=%s," + slapdtest.BaseDN, UserAttribute: "uid", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	for _, c := range []struct {
		name      string
		src       *auth.LDAP
		login, pw string
		user      string
		err       error
	}{
		{"search-then-bind", searchBind, "alice", "alice-pw", "alice@example.org", nil},
		{"search by mail", searchBind, "bob@example.org", "bob-pw", "bob@example.org", nil},
		{"wrong password", searchBind, "alice", "bob-pw", "", auth.ErrLDAPBadPassword},
		{"empty password", searchBind, "alice", "", "", auth.ErrLDAPBadPassword},
		{"no such user", searchBind, "carol", "carol-pw", "", auth.ErrLDAPNoUser},
		{"filter injection", searchBind, "*", "alice-pw", "", auth.ErrLDAPNoUser},
		{"direct bind", direct, "bob", "bob-pw", "bob", nil},
		{"direct bind, wrong password", direct, "bob", "alice-pw", "", auth.ErrLDAPBadPassword},
		{"direct bind, no such entry", direct, "carol", "x", "", auth.ErrLDAPBadPassword},
	} {
		for range 2 { // the second time over a pooled connection
			user, err := c.src.Authenticate(ctx, c.login, c.pw)
			if user != c.user || !errors.Is(err, c.err) {
				t.Errorf("%s: %q %v, want %q %v", c.name, user, err, c.user, c.err)
			}
		}
	}
	if user, err := searchBind.Lookup(ctx, "alice@example.org"); err != nil || user != "alice@example.org" {
		t.Errorf("lookup: %q %v", user, err)
	}

	srv.Stop()
	for _, src := range []*auth.LDAP{searchBind, direct} {
		if _, err := src.Authenticate(ctx, "alice", "alice-pw"); !errors.Is(err, auth.ErrLDAPUnavailable) {
			t.Errorf("slapd stopped: %v, want ErrLDAPUnavailable", err)
		}
	}
	if _, err := searchBind.Lookup(ctx, "alice"); !errors.Is(err, auth.ErrLDAPUnavailable) {
		t.Errorf("lookup with slapd stopped: %v", err)
	}
}
