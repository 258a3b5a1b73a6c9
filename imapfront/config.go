package imapfront

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/rookery-mail/rookery/directory"
)

// Mover moves a mailbox (internal name) to another backend: RENAME with a
// server argument. backend's RemoteMover asks the mailbox's primary
// over the cluster API.
type Mover interface {
	Move(ctx context.Context, name, backend string) error
}

// Observer receives each client command as it finishes: its name, the
// tagged status in lower case ("ok", "no", "bad"; "other" when the session
// ended without one) and how long it took.
type Observer interface {
	IMAPCommand(name, result string, d time.Duration)
}

// maxBufferedLiteral bounds a literal the frontend holds in memory: only
// APPEND's message may be bigger, and it is streamed.
const maxBufferedLiteral = 1 << 20

// Config configures a frontend.
type Config struct {
	Directory     directory.Directory
	ClusterSecret string // proxy login to backends
	Logger        *slog.Logger

	// Dial opens every connection to a backend; nil dials plainly. A node
	// sets it to send from its own source address.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	// Mover, when set, carries out RENAME a b SERVER (a live move to
	// backend SERVER); nil refuses it. MoveTimeout bounds one move.
	Mover       Mover
	MoveTimeout time.Duration

	// Quotas, when set, answers GETQUOTA and GETQUOTAROOT with users'
	// usage across backends; nil offers no QUOTA.
	Quotas Quotas

	// ModSeqs, when set, reads and changes flags with their modseqs on
	// the backends (condstore.Remote); nil offers no CONDSTORE.
	ModSeqs ModSeqs

	// Appender, when set, stores the messages of an APPEND with several
	// on the backends (multiappend.Remote); nil offers no MULTIAPPEND.
	Appender Appender

	// Passwords, when set, checks passwords beside the stored hashes
	// (passwords.go): the verified-login cache, LDAP.
	Passwords Passwords

	// Observer, when set, is told of every command a client sends.
	Observer Observer

	// TLS, when set, enables STARTTLS (and LOGIN over it).
	TLS *tls.Config
	// AllowPlaintextLogin allows LOGIN and AUTHENTICATE without TLS: for
	// tests and development only.
	AllowPlaintextLogin bool

	MaxLineBytes     int   // one line of a command
	MaxLiteralBytes  int64 // APPENDLIMIT: largest literal
	HardLiteralBytes int64 // a non-synchronizing literal above this closes the connection
	// MaxCommandBytes bounds a whole command after login, literals
	// included, except APPEND's streamed message.
	MaxCommandBytes int64
	// PreAuthMaxCommandBytes bounds a whole command before login; a
	// non-synchronizing literal that would pass it closes the connection.
	PreAuthMaxCommandBytes int
	// MaxPreAuthConns and MaxPreAuthConnsPerAddr bound the connections
	// not yet logged in, in all and from one client address.
	MaxPreAuthConns        int
	MaxPreAuthConnsPerAddr int
	MaxConnsPerUser        int
	// A failed login delays the next ones from its address and for its
	// user: LoginPenaltyBase after one failure, doubling up to
	// LoginPenaltyMax; failures are forgotten FailedLoginWindow after
	// the last one (penalty.go).
	LoginPenaltyBase  time.Duration
	LoginPenaltyMax   time.Duration
	FailedLoginWindow time.Duration
	// Penalties, when set, tells the cluster's other frontends of failed
	// logins; they report theirs through Server.NotePenalty.
	Penalties PenaltyPeers
	// PreAuthTimeout bounds the time from connecting to logging in.
	PreAuthTimeout     time.Duration
	IdleTimeout        time.Duration // idle time allowed after login (and in IDLE)
	BackendTimeout     time.Duration // dialing and proxy login to a backend
	DirectoryTimeout   time.Duration // one directory read or write
	BackendIdleTimeout time.Duration // how long a backend may take to answer one command
}

// Default returns a configuration with production limits; Directory and
// ClusterSecret must still be set.
func Default() Config {
	return Config{
		MaxLineBytes:           64 * 1024,
		MaxLiteralBytes:        50 << 20,
		HardLiteralBytes:       64 << 20,
		MaxCommandBytes:        2 << 20,
		PreAuthMaxCommandBytes: 8 << 10,
		MaxPreAuthConns:        1000,
		MaxPreAuthConnsPerAddr: 20,
		MaxConnsPerUser:        50,
		LoginPenaltyBase:       2 * time.Second,
		LoginPenaltyMax:        15 * time.Second,
		FailedLoginWindow:      15 * time.Minute,
		PreAuthTimeout:         30 * time.Second,
		IdleTimeout:            30 * time.Minute,
		BackendTimeout:         10 * time.Second,
		DirectoryTimeout:       10 * time.Second,
		BackendIdleTimeout:     5 * time.Minute,
		MoveTimeout:            time.Hour,
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch {
	case c.Directory == nil:
		return fmt.Errorf("%w: Directory is required", ErrConfig)
	case c.ClusterSecret == "":
		return fmt.Errorf("%w: ClusterSecret is required", ErrConfig)
	case c.Logger == nil:
		return fmt.Errorf("%w: Logger is required", ErrConfig)
	case c.MaxLineBytes < 1024:
		return fmt.Errorf("%w: MaxLineBytes must be at least 1024", ErrConfig)
	case c.MaxLiteralBytes < 1024 || c.HardLiteralBytes < c.MaxLiteralBytes:
		return fmt.Errorf("%w: need 1024 <= MaxLiteralBytes <= HardLiteralBytes", ErrConfig)
	case c.MaxCommandBytes < int64(c.MaxLineBytes) || c.PreAuthMaxCommandBytes < 1024:
		return fmt.Errorf("%w: need MaxCommandBytes >= MaxLineBytes and PreAuthMaxCommandBytes >= 1024", ErrConfig)
	case c.MaxPreAuthConns < 1 || c.MaxPreAuthConnsPerAddr < 1:
		return fmt.Errorf("%w: MaxPreAuthConns and MaxPreAuthConnsPerAddr must be positive", ErrConfig)
	case c.MaxConnsPerUser < 1:
		return fmt.Errorf("%w: MaxConnsPerUser must be positive", ErrConfig)
	case c.LoginPenaltyBase < 0 || c.LoginPenaltyMax < c.LoginPenaltyBase:
		return fmt.Errorf("%w: need 0 <= LoginPenaltyBase <= LoginPenaltyMax", ErrConfig)
	case c.FailedLoginWindow <= 0 || c.PreAuthTimeout <= 0 || c.IdleTimeout <= 0 ||
		c.BackendTimeout <= 0 || c.DirectoryTimeout <= 0 || c.BackendIdleTimeout <= 0:
		return fmt.Errorf("%w: timeouts must be positive", ErrConfig)
	}
	if c.MoveTimeout <= 0 {
		c.MoveTimeout = time.Hour
	}
	return nil
}

// dial opens a connection to a backend within BackendTimeout.
func (c *Config) dial(network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.BackendTimeout)
	defer cancel()
	if c.Dial != nil {
		return c.Dial(ctx, network, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// wireLimits are the framing limits after login, or before it (preAuth):
// then one command is at most PreAuthMaxCommandBytes, non-synchronizing
// literals follow LITERAL- and one past the bound closes the connection.
func (c *Config) wireLimits(preAuth bool) wireLimits {
	if preAuth {
		n := c.PreAuthMaxCommandBytes
		return wireLimits{
			MaxLine:      min(c.MaxLineBytes, n),
			MaxCommand:   int64(n),
			MaxBuffered:  int64(n),
			HardLiteral:  int64(n),
			LiteralMinus: true,
		}
	}
	return wireLimits{
		MaxLine:     c.MaxLineBytes,
		MaxLiteral:  c.MaxLiteralBytes,
		MaxCommand:  c.MaxCommandBytes,
		MaxBuffered: min(c.MaxLiteralBytes, maxBufferedLiteral),
		HardLiteral: c.HardLiteralBytes,
	}
}
