// Package pop3front is the frontend's POP3 proxy: it answers the
// AUTHORIZATION state itself (CAPA, STLS, USER/PASS, AUTH PLAIN), logs the
// user in through the IMAP frontend's login path, and then joins the
// client to the POP3 server of the backend holding the user's INBOX, which
// it logs in to with the cluster's proxy login. See DESIGN.md.
package pop3front

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/rookery-mail/rookery/directory"
)

// Authenticator logs a client in as the IMAP frontend does (its limits and
// throttling included): imapfront's Server. It returns the user the
// session acts for and a release to call when the session ends.
type Authenticator interface {
	Login(addr, authz, user, password string) (string, func(), error)
}

// Backends finds a backend's POP3 listener, which the backend announces
// in its gossip tags (the directory records only IMAP and LMTP).
type Backends interface {
	POP3Addr(backendID string) (string, bool)
}

// Config configures a POP3 frontend.
type Config struct {
	Directory     directory.Directory
	Backends      Backends
	Authenticator Authenticator
	ClusterSecret string // proxy login to backends
	Logger        *slog.Logger

	// Dial opens every connection to a backend; nil dials plainly.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	// TLS, when set, enables STLS (and USER/PASS over it).
	TLS *tls.Config
	// AllowPlaintextLogin allows USER/PASS and AUTH without TLS: for tests
	// and development only.
	AllowPlaintextLogin bool

	PreAuthTimeout   time.Duration // idle time allowed before login
	IdleTimeout      time.Duration // idle time allowed after login (RFC 1939: at least 10 minutes)
	BackendTimeout   time.Duration // dialing and proxy login to a backend
	DirectoryTimeout time.Duration // one directory read
}

// Default returns a configuration with production limits; Directory,
// Backends, Authenticator, ClusterSecret and Logger must still be set.
func Default() Config {
	return Config{
		PreAuthTimeout:   time.Minute,
		IdleTimeout:      10 * time.Minute,
		BackendTimeout:   10 * time.Second,
		DirectoryTimeout: 10 * time.Second,
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch {
	case c.Directory == nil || c.Backends == nil || c.Authenticator == nil:
		return fmt.Errorf("%w: Directory, Backends and Authenticator are required", ErrConfig)
	case c.ClusterSecret == "":
		return fmt.Errorf("%w: ClusterSecret is required", ErrConfig)
	case c.Logger == nil:
		return fmt.Errorf("%w: Logger is required", ErrConfig)
	case c.PreAuthTimeout <= 0 || c.IdleTimeout <= 0 || c.BackendTimeout <= 0 || c.DirectoryTimeout <= 0:
		return fmt.Errorf("%w: timeouts must be positive", ErrConfig)
	}
	return nil
}

// dial opens a connection to a backend within BackendTimeout.
func (c *Config) dial(addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.BackendTimeout)
	defer cancel()
	if c.Dial != nil {
		return c.Dial(ctx, "tcp", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}
