package lmtpd

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/rookery-mail/rookery/backend/quota"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/spool"
)

// Config configures the backend LMTP server.
type Config struct {
	BackendID string
	// Directory is the directory node the server runs beside: it reads the
	// local copy, and a synced one for a recipient the copy does not know.
	Directory directory.Directory
	Store     *spool.Store
	Domain    string // the name the server gives in its greeting

	MaxMessageBytes int64 // 0: the store's limit; never above it
	MaxRecipients   int   // per transaction

	ReadTimeout     time.Duration // per command line or data read
	WriteTimeout    time.Duration
	LookupTimeout   time.Duration // synced read of the directory for an unknown recipient
	DeliveryTimeout time.Duration // reading DATA into the store and committing it

	Logger *slog.Logger
	// Quota counts users' usage against their quotas, across backends;
	// nil counts this backend's share alone.
	Quota *quota.Meter
}

// Default returns a Config with every limit and timeout set.
func Default() Config {
	return Config{
		Domain:          "localhost",
		MaxRecipients:   1000,
		ReadTimeout:     5 * time.Minute,
		WriteTimeout:    time.Minute,
		LookupTimeout:   5 * time.Second,
		DeliveryTimeout: 10 * time.Minute,
	}
}

// Validate checks c.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.BackendID == "":
		return bad("backend id is empty")
	case c.Directory == nil:
		return bad("no directory")
	case c.Store == nil:
		return bad("no store")
	case c.MaxMessageBytes < 0:
		return bad("negative message size limit")
	case c.MaxRecipients <= 0:
		return bad("max recipients must be positive")
	case c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.LookupTimeout <= 0 || c.DeliveryTimeout <= 0:
		return bad("timeouts must be positive")
	}
	return nil
}
