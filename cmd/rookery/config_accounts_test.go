package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/internal/node"
)

func TestAccountsConfig(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "ldap.pw")
	if err := os.WriteFile(pwFile, []byte("reader-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(body string) *Config {
		path := filepath.Join(dir, "node.toml")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := Default()
		if err := cfg.LoadFile(path); err != nil {
			t.Fatal(err)
		}
		return &cfg
	}
	cfg := write(`[accounts]
login_cache_ttl = "30s"
auto_create = true
[accounts.ldap]
url = "ldap://127.0.0.1:389"
start_tls = true
bind_dn = "cn=reader,dc=example,dc=org"
bind_password_file = "` + pwFile + `"
base_dn = "ou=people,dc=example,dc=org"
filter = "(uid=%s)"
user_attribute = "uid"
cache_ttl = "10s"
`)
	a, err := cfg.accounts()
	if err != nil {
		t.Fatal(err)
	}
	if a.LoginCacheTTL != 30*time.Second || !a.AutoCreate || a.LDAP == nil || a.LDAP.BindPassword != "reader-pw" ||
		!a.LDAP.StartTLS || a.LDAPCacheTTL != 10*time.Second || a.LDAP.UserAttribute != "uid" {
		t.Fatalf("accounts %+v, ldap %+v", a, a.LDAP)
	}
	if got := cfg.nodeConfig(node.TLS{}, nil).Accounts; got.LDAP == nil || got.LDAP.URL != "ldap://127.0.0.1:389" {
		t.Fatalf("node config accounts %+v", got)
	}
	bad := write("[accounts.ldap]\nurl = \"http://x\"\nfilter = \"(uid=%s)\"\nbase_dn = \"dc=x\"\n")
	if _, err := bad.accounts(); err == nil || !strings.Contains(err.Error(), "accounts.ldap") {
		t.Fatalf("a bad URL: %v", err)
	}
}
