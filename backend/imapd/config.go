// Package imapd is a backend's IMAP server: go-imap's imapserver over the
// spool, with mailboxes named by the directory. Frontends log in to it for
// their users (see DESIGN.md); administrators may also use it directly.
package imapd

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/rookery-mail/rookery/backend/quota"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
)

// Mailboxes creates, deletes and renames mailboxes: the backend's mailbox
// life cycle, which keeps the directory and the spool in step.
type Mailboxes interface {
	// Create makes name (canonical internal form) active on this backend
	// and returns once the local directory copy shows it.
	Create(ctx context.Context, name, specialUse string) (*fsm.Mailbox, error)
	Delete(ctx context.Context, name string) error
	Rename(ctx context.Context, from, to string) error
}

// DefaultMaxMessageBytes is the APPEND limit when Config leaves it zero; it
// matches the store's default.
const DefaultMaxMessageBytes = 50 << 20

// Config is what New needs.
type Config struct {
	// BackendID is this backend's id in the directory: the server serves
	// only mailboxes whose primary copy is here.
	BackendID string
	Store     *spool.Store
	// Directory is the directory node the server runs beside.
	Directory directory.Directory
	Mailboxes Mailboxes
	// ClusterSecret authenticates frontends logging in as auth.ProxyUser.
	ClusterSecret string
	// MaxMessageBytes is the APPENDLIMIT; it should equal the store's
	// MaxMessageBytes so that a client learns the limit before it sends.
	MaxMessageBytes int64
	// TLS enables STARTTLS when set.
	TLS *tls.Config
	// AllowPlaintextAuth lets clients log in without TLS: frontends on a
	// private network, tests.
	AllowPlaintextAuth bool
	// DirectoryTimeout bounds each directory call a command makes.
	DirectoryTimeout time.Duration
	Logger           *slog.Logger
	// Quota counts users' usage against their quotas, across backends;
	// nil counts this backend's share alone.
	Quota *quota.Meter
}

// Validate checks c and fills in defaults.
func (c *Config) Validate() error {
	switch {
	case c.BackendID == "":
		return fmt.Errorf("%w: BackendID is required", ErrInvalidConfig)
	case c.Store == nil:
		return fmt.Errorf("%w: Store is required", ErrInvalidConfig)
	case c.Directory == nil:
		return fmt.Errorf("%w: Directory is required", ErrInvalidConfig)
	case c.Mailboxes == nil:
		return fmt.Errorf("%w: Mailboxes is required", ErrInvalidConfig)
	case c.ClusterSecret == "":
		return fmt.Errorf("%w: ClusterSecret is required", ErrInvalidConfig)
	case c.MaxMessageBytes < 0 || c.MaxMessageBytes > 1<<32-1:
		return fmt.Errorf("%w: MaxMessageBytes must be 0 to 4 GiB", ErrInvalidConfig)
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.DirectoryTimeout <= 0 {
		c.DirectoryTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}
