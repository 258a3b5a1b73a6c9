package auth_test

import (
	"context"
	"crypto/tls"
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

	// LDAPS and StartTLS, with the CA that signed slapd's certificate;
	// StartTLS to a server whose certificate is not trusted fails.
	for _, cfg := range []auth.LDAPConfig{
		{URL: srv.LDAPSURL, TLS: &tls.Config{RootCAs: srv.Roots}},
		{URL: srv.URL, StartTLS: true, TLS: &tls.Config{RootCAs: srv.Roots, ServerName: "127.0.0.1"}},
	} {
		cfg.DNTemplate, cfg.UserAttribute, cfg.Timeout = "uid=%s,"+slapdtest.BaseDN, "uid", 2*time.Second
		src, err := auth.NewLDAP(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if user, err := src.Authenticate(ctx, "alice", "alice-pw"); err != nil || user != "alice" {
			t.Errorf("%s (StartTLS %v): %q %v", cfg.URL, cfg.StartTLS, user, err)
		}
		src.Close()
	}
	untrusted, _ := auth.NewLDAP(auth.LDAPConfig{URL: srv.URL, StartTLS: true, DNTemplate: "uid=%s," + slapdtest.BaseDN,
		TLS: &tls.Config{ServerName: "127.0.0.1"}, Timeout: 2 * time.Second})
	if _, err := untrusted.Authenticate(ctx, "alice", "alice-pw"); !errors.Is(err, auth.ErrLDAPUnavailable) {
		t.Errorf("StartTLS to an untrusted certificate: %v", err)
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
