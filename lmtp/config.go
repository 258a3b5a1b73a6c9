package lmtp

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// Config configures the LMTP proxy.
type Config struct {
	// Directory is the node's directory: recipients resolve in a fresh
	// read of it.
	Directory directory.Directory
	// Hostname is announced in the greeting and LHLO reply.
	Hostname string
	// Domains served; a recipient in another domain is refused. Empty
	// accepts any domain (the MTA has already decided the mail is local).
	Domains []string
	// MaxMessageBytes is announced as SIZE and enforced while reading DATA.
	MaxMessageBytes int64
	MaxRecipients   int
	// Timeouts of the client side, and of each backend exchange.
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
	BackendTimeout time.Duration
	// IdleBackendConns is how many idle connections to keep per backend. It
	// should cover the MTAs' concurrent deliveries through this proxy: each
	// transaction without an idle connection pays a TCP handshake, a
	// greeting and LHLO before its MAIL.
	IdleBackendConns int
	// Recipients, when set, is asked for a recipient the directory does
	// not know, before it is refused.
	Recipients Recipients
	// Observer, when set, is told of every MAIL, RCPT and DATA (one DATA
	// per recipient, with that recipient's reply).
	Observer Observer
	// TLS, when set, is offered to clients with STARTTLS.
	TLS *tls.Config
	// Dial opens every connection to a backend; nil dials plainly. A node
	// sets it to send from its own source address.
	Dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	Logger *slog.Logger
}

// Recipients makes users that another source knows (LDAP) as mail for
// them arrives. Provision reports whether it made the user the recipient
// names; an error (the source down) makes the RCPT a temporary failure,
// never a 550.
type Recipients interface {
	Provision(ctx context.Context, rcpt fsm.Recipient) (bool, error)
}

// Observer receives each command as it finishes: its name, the class of
// its reply ("ok", "tempfail" for 4xx, "permfail" for 5xx) and how long it
// took.
type Observer interface {
	LMTPCommand(name, result string, d time.Duration)
}

// Default returns a Config with safe limits; Directory must still be set.
func Default() Config {
	return Config{
		Hostname:         "localhost",
		MaxMessageBytes:  50 << 20,
		MaxRecipients:    1000,
		ReadTimeout:      5 * time.Minute,
		WriteTimeout:     5 * time.Minute,
		BackendTimeout:   2 * time.Minute,
		IdleBackendConns: 64,
	}
}

func (c *Config) Validate() error {
	var errs []error
	if c.Directory == nil {
		errs = append(errs, errors.New("lmtp: Directory is required"))
	}
	if c.MaxMessageBytes <= 0 || c.MaxRecipients <= 0 {
		errs = append(errs, errors.New("lmtp: MaxMessageBytes and MaxRecipients must be positive"))
	}
	if c.BackendTimeout <= 0 || c.ReadTimeout <= 0 || c.WriteTimeout <= 0 {
		errs = append(errs, errors.New("lmtp: timeouts must be positive"))
	}
	for i, d := range c.Domains {
		c.Domains[i] = strings.ToLower(d)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return errors.Join(errs...)
}
