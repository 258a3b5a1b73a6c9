package node

import (
	"cmp"
	"context"
	"time"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/imapfront"
)

// AccountsConfig is how a frontend checks passwords beyond the
// directory's stored hashes.
type AccountsConfig struct {
	// LoginCacheTTL is how long a verified login of a directory user is
	// remembered (auth.LoginCache); 0 keeps DefaultLoginCacheTTL, a
	// negative value turns the cache off. A password change or deleting
	// the user ends it at once.
	LoginCacheTTL time.Duration
	// LoginCacheSize bounds the cache's entries; 0 keeps the default.
	LoginCacheSize int
}

// The cache's defaults.
const (
	DefaultLoginCacheTTL  = 5 * time.Minute
	DefaultLoginCacheSize = 100_000
)

// passwords is the frontend's imapfront.Passwords: the verified-login
// cache over the directory's stored hashes.
type passwords struct {
	cache *auth.LoginCache // nil: no cache
	ttl   time.Duration
}

var _ imapfront.Passwords = (*passwords)(nil)

// passwords makes the frontend's password checks from the node's config.
func (n *Node) passwords() *passwords { return newPasswords(n.cfg.Accounts) }

func newPasswords(c AccountsConfig) *passwords {
	p := &passwords{ttl: c.LoginCacheTTL}
	if p.ttl == 0 {
		p.ttl = DefaultLoginCacheTTL
	}
	if p.ttl > 0 {
		p.cache = auth.NewLoginCache(cmp.Or(c.LoginCacheSize, DefaultLoginCacheSize))
	}
	return p
}

func (p *passwords) Check(_ context.Context, _ string, u *fsm.User, pw string) (bool, error) {
	if p.cache == nil {
		return auth.CheckPassword(u.PasswordHash, pw), nil
	}
	return p.cache.CheckPassword(u.Name, u.PasswordHash, pw, p.ttl), nil
}

func (p *passwords) Provision(context.Context, string, string) (*fsm.User, error) {
	return nil, fsm.ErrNoUser
}
