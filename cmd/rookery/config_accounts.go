package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/internal/node"
)

// AccountsConfig is how a frontend checks passwords (docs/operations.md,
// "Verified-login cache" and "LDAP").
type AccountsConfig struct {
	// LoginCacheTTL: how long a verified login is remembered ("5m" by
	// default; a negative value such as "-1s" turns the cache off).
	LoginCacheTTL  Duration `toml:"login_cache_ttl"`
	LoginCacheSize int      `toml:"login_cache_size"`
	// AutoCreate adds a user LDAP knows and the directory does not, with
	// its INBOX, at its first login.
	AutoCreate bool       `toml:"auto_create"`
	LDAP       LDAPConfig `toml:"ldap"`
}

// LDAPConfig is [accounts.ldap]: LDAP checks the password of every user
// without a stored hash. No url: no LDAP.
type LDAPConfig struct {
	URL      string `toml:"url"` // ldap://host:389 or ldaps://host:636
	StartTLS bool   `toml:"start_tls"`
	CAFile   string `toml:"ca_file"` // the server's CA, PEM; empty: the system's
	// Search-then-bind: bind as BindDN (its password in BindPasswordFile),
	// search BaseDN with Filter ("%s" the login), bind as the entry found.
	BindDN           string `toml:"bind_dn"`
	BindPasswordFile string `toml:"bind_password_file"`
	BaseDN           string `toml:"base_dn"`
	Filter           string `toml:"filter"`
	// Direct bind: the DN to bind as, "%s" the login.
	DNTemplate    string   `toml:"dn_template"`
	UserAttribute string   `toml:"user_attribute"` // names the mailbox user: "uid", "mail"
	Timeout       Duration `toml:"timeout"`
	PoolSize      int      `toml:"pool_size"`
	// CacheTTL bounds how long an LDAP login is remembered ("1m"; a
	// password change in LDAP is seen once it has passed).
	CacheTTL Duration `toml:"cache_ttl"`
}

// accounts is the node's AccountsConfig, with the LDAP bind password and
// CA read from their files.
func (c *Config) accounts() (node.AccountsConfig, error) {
	a := node.AccountsConfig{
		LoginCacheTTL:  c.Accounts.LoginCacheTTL.Duration,
		LoginCacheSize: c.Accounts.LoginCacheSize,
		AutoCreate:     c.Accounts.AutoCreate,
	}
	l := c.Accounts.LDAP
	if l.URL == "" {
		return a, nil
	}
	lc := &auth.LDAPConfig{URL: l.URL, StartTLS: l.StartTLS, BindDN: l.BindDN, BaseDN: l.BaseDN, Filter: l.Filter,
		DNTemplate: l.DNTemplate, UserAttribute: l.UserAttribute, Timeout: l.Timeout.Duration, PoolSize: l.PoolSize}
	a.LDAP, a.LDAPCacheTTL = lc, l.CacheTTL.Duration
	var errs []error
	if l.BindPasswordFile != "" {
		pw, err := os.ReadFile(l.BindPasswordFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("accounts.ldap.bind_password_file: %w", err))
		}
		lc.BindPassword = strings.TrimRight(string(pw), "\r\n")
	}
	if l.CAFile != "" {
		pem, err := os.ReadFile(l.CAFile)
		pool := x509.NewCertPool()
		if err == nil && !pool.AppendCertsFromPEM(pem) {
			err = errors.New("no PEM certificate in it")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("accounts.ldap.ca_file: %w", err))
		}
		lc.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if _, err := auth.NewLDAP(*lc); err != nil {
		errs = append(errs, fmt.Errorf("accounts.ldap: %w", err))
	}
	return a, errors.Join(errs...)
}
