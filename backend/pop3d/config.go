// Package pop3d is a backend's POP3 server (RFC 1939, with CAPA from RFC
// 2449 and SASL PLAIN from RFC 5034) over the spool: it serves the
// logged-in user's INBOX when this backend is its primary. Frontends log
// in to it with the same proxy login as to the backend IMAP server (SASL
// PLAIN, the cluster's proxy identity acting for the user); see DESIGN.md.
package pop3d

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/spool"
)

// Config is what New needs.
type Config struct {
	// BackendID is this backend's id in the directory: a session opens a
	// user's INBOX only while its primary copy is here.
	BackendID string
	Store     *spool.Store
	Directory directory.Directory
	// ClusterSecret authenticates frontends logging in as auth.ProxyUser.
	ClusterSecret string
	// DirectoryTimeout bounds each directory call a command makes.
	DirectoryTimeout time.Duration
	// IdleTimeout is how long a client may stay silent (RFC 1939 asks for
	// at least ten minutes once logged in).
	IdleTimeout time.Duration
	Logger      *slog.Logger
}

// maxLine bounds one command line; RFC 2449 allows 255 octets, SASL
// responses a little more.
const maxLine = 4096

// Validate checks c and fills in defaults.
func (c *Config) Validate() error {
	switch {
	case c.BackendID == "":
		return fmt.Errorf("%w: BackendID is required", ErrInvalidConfig)
	case c.Store == nil:
		return fmt.Errorf("%w: Store is required", ErrInvalidConfig)
	case c.Directory == nil:
		return fmt.Errorf("%w: Directory is required", ErrInvalidConfig)
	case c.ClusterSecret == "":
		return fmt.Errorf("%w: ClusterSecret is required", ErrInvalidConfig)
	}
	if c.DirectoryTimeout <= 0 {
		c.DirectoryTimeout = 10 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}
