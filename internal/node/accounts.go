package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/backend"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/imapfront"
	"github.com/rookery-mail/rookery/internal/clusterapi"
	"github.com/rookery-mail/rookery/lmtp"
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
	// LDAP, when set, checks the password of every directory user that
	// has no stored hash. LDAPCacheTTL bounds how long such a login is
	// remembered (0: DefaultLDAPCacheTTL, negative: never); a password
	// change in LDAP is seen only once it has passed.
	LDAP         *auth.LDAPConfig
	LDAPCacheTTL time.Duration
	// AutoCreate adds a user that LDAP knows and the directory does not,
	// with its INBOX, at its first login (the user is named by LDAP's
	// user attribute, with no stored hash).
	AutoCreate bool
}

// The cache's defaults.
const (
	DefaultLoginCacheTTL  = 5 * time.Minute
	DefaultLoginCacheSize = 100_000
	DefaultLDAPCacheTTL   = time.Minute
	// ldapStamp keys the cache's entries of LDAP logins.
	ldapStamp = "ldap"
)

// passwords is the frontend's imapfront.Passwords: the verified-login
// cache over the directory's stored hashes, and LDAP for users without one.
type passwords struct {
	n       *Node
	cache   *auth.LoginCache // nil: no cache
	ttl     time.Duration
	ldap    *auth.LDAP // nil: none
	ldapTTL time.Duration
}

var (
	_ imapfront.Passwords = (*passwords)(nil)
	_ lmtp.Recipients     = recipients{}
)

// passwords makes the frontend's password checks from the node's config.
func (n *Node) passwords() (*passwords, error) {
	c := n.cfg.Accounts
	p := &passwords{n: n, ttl: cmp.Or(c.LoginCacheTTL, DefaultLoginCacheTTL), ldapTTL: cmp.Or(c.LDAPCacheTTL, DefaultLDAPCacheTTL)}
	if p.ttl > 0 || (c.LDAP != nil && p.ldapTTL > 0) {
		p.cache = auth.NewLoginCache(cmp.Or(c.LoginCacheSize, DefaultLoginCacheSize))
	}
	if c.LDAP != nil {
		l, err := auth.NewLDAP(*c.LDAP)
		if err != nil {
			return nil, err
		}
		p.ldap = l
		n.closers = append(n.closers, func() error { l.Close(); return nil })
	}
	return p, nil
}

func (p *passwords) Check(ctx context.Context, login string, u *fsm.User, pw string) (bool, error) {
	if u.PasswordHash != "" || p.ldap == nil {
		if p.cache == nil || p.ttl < 0 {
			return auth.CheckPassword(u.PasswordHash, pw), nil
		}
		return p.cache.CheckPassword(u.Name, u.PasswordHash, pw, p.ttl), nil
	}
	if p.cache.Verified(u.Name, ldapStamp, pw) {
		return true, nil
	}
	named, err := p.ldapUser(ctx, login, pw)
	if err != nil || named == nil {
		return false, err
	}
	if named.Name != u.Name {
		return false, nil // LDAP's entry for this login names another mailbox user
	}
	p.cache.Remember(u.Name, ldapStamp, pw, p.ldapTTL)
	return true, nil
}

// Provision finds a login the directory lacks in LDAP; with AutoCreate it
// adds the user LDAP names and its INBOX.
func (p *passwords) Provision(ctx context.Context, login, pw string) (*fsm.User, error) {
	if p.ldap == nil {
		return nil, fsm.ErrNoUser
	}
	named, err := p.ldapUser(ctx, login, pw)
	switch {
	case err != nil:
		return nil, err
	case named != nil:
		// Check follows for the same password: it need not ask LDAP again.
		p.cache.Remember(named.Name, ldapStamp, pw, p.ldapTTL)
		return named, nil
	}
	return nil, fsm.ErrNoUser
}

// recipients is the LMTP proxy's lmtp.Recipients over the same LDAP.
type recipients struct{ *passwords }

// Provision of a recipient: with AutoCreate, a recipient the directory
// lacks whose address (else, in the default domain, whose local part) LDAP
// finds is added with its INBOX. A direct-bind source cannot look up.
func (r recipients) Provision(ctx context.Context, rcpt fsm.Recipient) (bool, error) {
	p := r.passwords
	if p == nil || p.ldap == nil || !p.n.cfg.Accounts.AutoCreate {
		return false, nil
	}
	v, err := p.n.dir.Read(ctx, directory.Local)
	if err != nil {
		return false, err
	}
	logins := []string{rcpt.User + "@" + rcpt.Domain}
	if def := v.DefaultDomain(); def == "" || def == rcpt.Domain {
		logins = append(logins, rcpt.User)
	}
	for _, login := range logins {
		name, err := p.ldap.Lookup(ctx, login)
		if errors.Is(err, auth.ErrLDAPNoUser) {
			continue
		}
		if err != nil {
			return false, err
		}
		user, err := fsm.CanonicalUser(name)
		if err != nil {
			return false, nil
		}
		if _, err := p.n.createUser(ctx, user); err != nil {
			return false, err
		}
		p.n.log.Info("created a user LDAP knows, for mail to it", "user", user)
		return true, nil
	}
	return false, nil
}

// ldapUser checks login and pw with LDAP and returns the directory user
// its entry names; nil when LDAP refuses them or, without AutoCreate, the
// directory has no such user.
func (p *passwords) ldapUser(ctx context.Context, login, pw string) (*fsm.User, error) {
	name, err := p.ldap.Authenticate(ctx, login, pw)
	switch {
	case errors.Is(err, auth.ErrLDAPNoUser), errors.Is(err, auth.ErrLDAPBadPassword):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("%w: %w", imapfront.ErrPasswordsUnavailable, err)
	}
	user, err := fsm.CanonicalUser(name)
	if err != nil {
		p.n.log.Warn("LDAP names no possible user", "login_user", login, "ldap_user", name)
		return nil, nil
	}
	v, err := p.n.dir.Read(ctx, directory.Synced)
	if err != nil {
		return nil, fmt.Errorf("%w: directory: %w", imapfront.ErrPasswordsUnavailable, err)
	}
	if u, ok := v.LoginUser(user); ok {
		return u, nil
	}
	if !p.n.cfg.Accounts.AutoCreate {
		return nil, nil
	}
	u, err := p.n.createUser(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("%w: create %s: %w", imapfront.ErrPasswordsUnavailable, user, err)
	}
	p.n.log.Info("created a user LDAP knows", "user", user, "login_user", login)
	return u, nil
}

// createUser adds user with no stored hash and its INBOX on the least
// loaded up backend.
func (n *Node) createUser(ctx context.Context, user string) (*fsm.User, error) {
	res, err := n.dir.Apply(ctx, fsm.UserAdd{Name: user, At: time.Now().UnixNano()})
	if err == nil {
		err = res.Err
	}
	if err != nil && !errors.Is(err, fsm.ErrUserExists) {
		return nil, err
	}
	if err := n.dir.WaitApplied(ctx, res.Index); err != nil {
		return nil, err
	}
	v, err := n.dir.Read(ctx, directory.Local)
	if err != nil {
		return nil, err
	}
	if _, ok := v.Mailbox(fsm.Inbox(user)); !ok {
		be := leastLoaded(v)
		if be == nil {
			return nil, errors.New("no backend is up")
		}
		api := clusterapi.NewClient(n.cfg.ClusterSecret,
			&http.Client{Transport: clusterapi.Transport(n.cfg.dialer(), n.cfg.TLS.Client)}, n.cfg.TLS.Client != nil, nil)
		_, err := backend.CreateRemote(ctx, api, be.APIAddr, backend.CreateRequest{Name: fsm.Inbox(user)})
		if err != nil && !n.inboxMade(ctx, user) {
			return nil, err
		}
		// The delivery that follows reads this node's copy: it must hold
		// the INBOX the backend made.
		if _, err := n.dir.Read(ctx, directory.Synced); err != nil {
			return nil, err
		}
	}
	u, ok := v.User(user)
	if !ok {
		return nil, fsm.ErrNoUser
	}
	return u, nil
}

// inboxMade reports whether user's INBOX exists or is being made: a
// client's connections that log in at once race to create it.
func (n *Node) inboxMade(ctx context.Context, user string) bool {
	v, err := n.dir.Read(ctx, directory.Synced)
	if err != nil {
		return false
	}
	_, ok := v.Mailbox(fsm.Inbox(user))
	return ok
}

// leastLoaded is the up backend with the fewest mailboxes per weight.
func leastLoaded(v *fsm.View) *fsm.Backend {
	var best *fsm.Backend
	bestLoad := 0.0
	for _, b := range v.Backends() {
		if b.State != fsm.BackendUp || b.APIAddr == "" {
			continue
		}
		if load := float64(v.MailboxesOn(b.ID)) / float64(max(b.Weight, 1)); best == nil || load < bestLoad {
			best, bestLoad = b, load
		}
	}
	return best
}
