package auth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// LDAP is a password source: a site's directory server. A login is
// checked by binding as the user's entry with the password, the entry
// found either by a search under a service account (search-then-bind) or
// from a DN template (direct bind); the entry's UserAttribute names the
// mailbox user. Connections are pooled, each exchange bounded by Timeout.
type LDAP struct {
	cfg  LDAPConfig
	pool chan *ldap.Conn
}

// LDAPConfig configures an LDAP source.
type LDAPConfig struct {
	// URL is ldap://host:port or ldaps://host:port (TLS from the start).
	URL string
	// StartTLS upgrades an ldap:// connection before anything is sent.
	StartTLS bool
	TLS      *tls.Config // for ldaps:// and StartTLS; nil: the system's roots
	// BindDN and BindPassword are the service account a search binds as
	// (empty: an anonymous search).
	BindDN       string
	BindPassword string
	// BaseDN and Filter find a user's entry: "%s" in Filter is the login
	// name, escaped ("(&(objectClass=inetOrgPerson)(uid=%s))").
	BaseDN string
	Filter string
	// DNTemplate, when set, binds directly as the DN it makes ("%s" is
	// the login name, escaped as a DN value) and searches nothing but
	// that entry, as itself.
	DNTemplate string
	// UserAttribute is the attribute whose value is the mailbox user
	// ("uid", "mail"); empty: the login name itself.
	UserAttribute string
	Timeout       time.Duration // one dial, bind or search
	PoolSize      int           // idle connections kept
}

// Errors of an LDAP check. Any other error means the server could not
// tell: it is down, slow or refuses the service account.
var (
	ErrLDAPNoUser      = errors.New("auth: no such user in LDAP")
	ErrLDAPBadPassword = errors.New("auth: LDAP refused the password")
	ErrLDAPUnavailable = errors.New("auth: LDAP unavailable")
	ErrLDAPConfig      = errors.New("auth: invalid LDAP config")
)

// NewLDAP checks cfg and makes the source; it connects only when asked.
func NewLDAP(cfg LDAPConfig) (*LDAP, error) {
	u, err := url.Parse(cfg.URL)
	switch {
	case err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "":
		return nil, fmt.Errorf("%w: url %q: want ldap://host:port or ldaps://host:port", ErrLDAPConfig, cfg.URL)
	case cfg.StartTLS && u.Scheme == "ldaps":
		return nil, fmt.Errorf("%w: StartTLS over ldaps://", ErrLDAPConfig)
	case cfg.DNTemplate == "" && (cfg.BaseDN == "" || !strings.Contains(cfg.Filter, "%s")):
		return nil, fmt.Errorf("%w: give a dn_template, or a base_dn and a filter with %%s", ErrLDAPConfig)
	case cfg.DNTemplate != "" && !strings.Contains(cfg.DNTemplate, "%s"):
		return nil, fmt.Errorf("%w: dn_template has no %%s", ErrLDAPConfig)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = 8
	}
	return &LDAP{cfg: cfg, pool: make(chan *ldap.Conn, cfg.PoolSize)}, nil
}

// Close closes the pooled connections.
func (l *LDAP) Close() {
	for {
		select {
		case c := <-l.pool:
			c.Close()
		default:
			return
		}
	}
}

// Authenticate checks login's password and returns the mailbox user its
// entry names. ErrLDAPNoUser and ErrLDAPBadPassword are answers; any
// other error wraps ErrLDAPUnavailable.
func (l *LDAP) Authenticate(ctx context.Context, login, pw string) (string, error) {
	if pw == "" {
		return "", ErrLDAPBadPassword // an empty password would be an anonymous bind
	}
	c, err := l.conn(ctx)
	if err != nil {
		return "", err
	}
	user, err := l.authenticate(c, login, pw)
	l.put(c, err)
	return user, err
}

// Lookup finds login's entry with the service account, without a
// password, and returns the mailbox user it names: what delivery to a
// user the directory lacks asks. A direct-bind source cannot look up.
func (l *LDAP) Lookup(ctx context.Context, login string) (string, error) {
	if l.cfg.DNTemplate != "" {
		return "", fmt.Errorf("%w: a direct-bind source cannot look users up", ErrLDAPNoUser)
	}
	c, err := l.conn(ctx)
	if err != nil {
		return "", err
	}
	_, user, err := l.find(c, login)
	l.put(c, err)
	return user, err
}

func (l *LDAP) authenticate(c *ldap.Conn, login, pw string) (string, error) {
	dn, user := "", ""
	if l.cfg.DNTemplate != "" {
		dn = strings.ReplaceAll(l.cfg.DNTemplate, "%s", ldap.EscapeDN(login))
	} else {
		var err error
		if dn, user, err = l.find(c, login); err != nil {
			return "", err
		}
	}
	if err := c.Bind(dn, pw); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return "", ErrLDAPBadPassword
		}
		return "", fmt.Errorf("%w: bind as user: %v", ErrLDAPUnavailable, err)
	}
	if l.cfg.DNTemplate != "" {
		var err error
		if user, err = l.attribute(c, dn, login); err != nil {
			return "", err
		}
	}
	return user, nil
}

// find searches for login's entry as the service account.
func (l *LDAP) find(c *ldap.Conn, login string) (dn, user string, err error) {
	if l.cfg.BindDN != "" {
		err = c.Bind(l.cfg.BindDN, l.cfg.BindPassword)
	} else {
		err = c.UnauthenticatedBind("")
	}
	if err != nil {
		return "", "", fmt.Errorf("%w: service bind: %v", ErrLDAPUnavailable, err)
	}
	filter := strings.ReplaceAll(l.cfg.Filter, "%s", ldap.EscapeFilter(login))
	res, err := c.Search(ldap.NewSearchRequest(l.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, int(l.cfg.Timeout/time.Second)+1, false, filter, l.attributes(), nil))
	if err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return "", "", fmt.Errorf("%w: %s", ErrLDAPNoUser, login)
		}
		return "", "", fmt.Errorf("%w: search: %v", ErrLDAPUnavailable, err)
	}
	switch len(res.Entries) {
	case 0:
		return "", "", fmt.Errorf("%w: %s", ErrLDAPNoUser, login)
	case 1:
	default:
		// Two entries for one login: refuse rather than guess.
		return "", "", fmt.Errorf("%w: %s names %d entries", ErrLDAPNoUser, login, len(res.Entries))
	}
	e := res.Entries[0]
	return e.DN, l.userOf(e, login), nil
}

// attribute reads the user attribute of the entry bound as.
func (l *LDAP) attribute(c *ldap.Conn, dn, login string) (string, error) {
	if l.cfg.UserAttribute == "" {
		return login, nil
	}
	res, err := c.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, int(l.cfg.Timeout/time.Second)+1, false, "(objectClass=*)", l.attributes(), nil))
	if err != nil || len(res.Entries) != 1 {
		return "", fmt.Errorf("%w: read %s: %v", ErrLDAPUnavailable, dn, err)
	}
	return l.userOf(res.Entries[0], login), nil
}

func (l *LDAP) attributes() []string {
	if l.cfg.UserAttribute == "" {
		return []string{"1.1"} // no attributes
	}
	return []string{l.cfg.UserAttribute}
}

func (l *LDAP) userOf(e *ldap.Entry, login string) string {
	if l.cfg.UserAttribute == "" {
		return login
	}
	return e.GetAttributeValue(l.cfg.UserAttribute)
}

// conn takes a pooled connection or dials one, with TLS as configured.
func (l *LDAP) conn(ctx context.Context) (*ldap.Conn, error) {
	select {
	case c := <-l.pool:
		if !c.IsClosing() {
			return c, nil
		}
	default:
	}
	d := &net.Dialer{Timeout: l.cfg.Timeout}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < l.cfg.Timeout {
		d.Deadline = dl
	}
	opts := []ldap.DialOpt{ldap.DialWithDialer(d)}
	if l.cfg.TLS != nil {
		opts = append(opts, ldap.DialWithTLSConfig(l.cfg.TLS))
	}
	c, err := ldap.DialURL(l.cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLDAPUnavailable, err)
	}
	c.SetTimeout(l.cfg.Timeout)
	if l.cfg.StartTLS {
		tc := l.cfg.TLS
		if tc == nil {
			u, _ := url.Parse(l.cfg.URL)
			tc = &tls.Config{ServerName: u.Hostname()}
		}
		if err := c.StartTLS(tc); err != nil {
			c.Close()
			return nil, fmt.Errorf("%w: StartTLS: %v", ErrLDAPUnavailable, err)
		}
	}
	return c, nil
}

// put returns c to the pool unless the exchange broke it.
func (l *LDAP) put(c *ldap.Conn, err error) {
	if err != nil && errors.Is(err, ErrLDAPUnavailable) {
		c.Close()
		return
	}
	select {
	case l.pool <- c:
	default:
		c.Close()
	}
}
