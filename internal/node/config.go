package node

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/rookery-mail/rookery/directory"
)

// The roles a node runs any mix of.
const (
	RoleDirectory = directory.RoleDirectory
	RoleBackend   = directory.RoleBackend
	RoleFrontend  = directory.RoleFrontend
)

// Config is everything a node is made of. Production, `rookery dev` and
// the test clusters fill the same struct; only cmd/ reads it from flags,
// files or the environment.
type Config struct {
	NodeID  string
	DataDir string // the directory's Raft data in DataDir/directory, the spool in DataDir/spool
	Roles   []string
	// ClusterSecret authenticates the cluster API and the frontends'
	// logins to backends.
	ClusterSecret string
	// SourceIP, when set, is the local address of every connection the node
	// opens to another node (Raft, gossip, cluster API, backend IMAP/LMTP).
	SourceIP string
	// AdminAddr serves /metrics, /healthz, /readyz and the status page,
	// without authentication. Empty serves none of them.
	AdminAddr string
	TLS       TLS
	Logger    *slog.Logger

	// Directory holds the directory node's addresses, join list, bootstrap
	// and timings. New sets the fields the node owns: NodeID, DataDir,
	// Roles, SourceIP, ClusterSecret, the TLS fields, Observer, Logger and
	// the backend's Tags.
	Directory directory.Config
	Backend   BackendConfig
	Frontend  FrontendConfig
	Accounts  AccountsConfig
}

// TLS is the TLS material of a node, loaded by its caller. A nil field
// means that part runs without TLS.
type TLS struct {
	Server    *tls.Config // listeners other nodes dial (client certificates required)
	Client    *tls.Config // dials to other nodes
	GossipKey []byte      // encrypts memberlist gossip
	Clients   *tls.Config // IMAP and LMTP ports mail clients use
}

// BackendConfig is the backend role's part of a node.
type BackendConfig struct {
	ID       string // the node id when empty
	IMAPAddr string
	LMTPAddr string
	// IMAPAdvertise and LMTPAdvertise go into the backend's registration
	// instead of the bound addresses when set.
	IMAPAdvertise string
	LMTPAdvertise string
	// POP3Addr, when set, serves POP3 for the frontends; POP3Advertise
	// goes into the node's gossip tags instead of it when set.
	POP3Addr          string
	POP3Advertise     string
	MaxMessageBytes   int64
	ReplicationFactor int
	// ReplicaTimeout and CatchUpInterval are the replication timings; 0
	// keeps the backend's defaults.
	ReplicaTimeout  time.Duration
	CatchUpInterval time.Duration
	// RestoreAfter: see backend.Config.
	RestoreAfter time.Duration
	// GatherInterval: see backend.Config; 0 is off.
	GatherInterval time.Duration
	// QuotaCacheFor: see backend.Config.
	QuotaCacheFor time.Duration
	// ReplicaTransport, when set, wraps the transport of the replication
	// calls to other backends: a test cuts links with it.
	ReplicaTransport func(http.RoundTripper) http.RoundTripper
}

// FrontendConfig is the frontend role's part of a node.
type FrontendConfig struct {
	IMAPAddr string
	// IMAPSAddr serves implicit TLS with TLS.Clients; empty serves none.
	IMAPSAddr string
	// POP3Addr serves POP3 with STLS, POP3SAddr implicit TLS with
	// TLS.Clients; empty serves none.
	POP3Addr   string
	POP3SAddr  string
	LMTPAddr   string
	LMTPSocket string // empty: no unix socket
	// LMTPSocketMode is the socket's permission: an MTA's delivery agent
	// runs as its own user and needs to write to it.
	LMTPSocketMode      os.FileMode
	Domains             []string
	AllowPlaintextLogin bool
	MaxMessageBytes     int64
	// Client input limits and the failed-login penalty (imapfront.Config);
	// zero keeps imapfront's default.
	MaxCommandBytes        int64
	PreAuthMaxCommandBytes int
	MaxPreAuthConns        int
	MaxPreAuthConnsPerAddr int
	PreAuthTimeout         time.Duration
	LoginPenaltyBase       time.Duration
	LoginPenaltyMax        time.Duration
	FailedLoginWindow      time.Duration
}

// Default is every role with the production settings; identity, data
// directory, secret and addresses remain to be set.
func Default() Config {
	return Config{
		Roles:     []string{RoleDirectory, RoleBackend, RoleFrontend},
		Directory: directory.Default(),
		Backend: BackendConfig{
			MaxMessageBytes:   50 << 20,
			ReplicationFactor: 2,
		},
		Frontend: FrontendConfig{
			LMTPSocketMode:  0o666,
			MaxMessageBytes: 50 << 20,
		},
	}
}

// Has reports whether the node runs role.
func (c *Config) Has(role string) bool { return slices.Contains(c.Roles, role) }

// Validate checks what no package below can: the mix of roles and the
// settings each needs. It fills Backend.ID with the node id when empty.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...)))
	}
	if c.NodeID == "" {
		bad("node id is required")
	}
	if c.DataDir == "" {
		bad("data dir is required")
	}
	if len(c.ClusterSecret) < 16 {
		bad("the cluster secret must be at least 16 characters")
	}
	if len(c.Roles) == 0 {
		bad("roles: at least one of directory, backend, frontend")
	}
	for _, r := range c.Roles {
		if r != RoleDirectory && r != RoleBackend && r != RoleFrontend {
			bad("unknown role %q", r)
		}
	}
	if c.Has(RoleBackend) && c.Backend.ID == "" {
		c.Backend.ID = c.NodeID
	}
	if c.SourceIP != "" && net.ParseIP(c.SourceIP) == nil {
		bad("source IP %q is not an IP address", c.SourceIP)
	}
	for what, addr := range map[string]string{"backend IMAP advertise": c.Backend.IMAPAdvertise, "backend LMTP advertise": c.Backend.LMTPAdvertise} {
		if _, _, err := net.SplitHostPort(addr); addr != "" && err != nil {
			bad("%s address %q: %v", what, addr, err)
		}
	}
	return errors.Join(errs...)
}

// checkTLS checks that the loaded TLS material covers what the config
// asks of it; Validate cannot, as a config is validated before its TLS is
// loaded.
func (c *Config) checkTLS() error {
	if c.Has(RoleFrontend) && (c.Frontend.IMAPSAddr != "" || c.Frontend.POP3SAddr != "") && c.TLS.Clients == nil {
		return fmt.Errorf("%w: the IMAPS and POP3S listeners need the client-port certificate", ErrInvalidConfig)
	}
	if (c.TLS.Server == nil) != (c.TLS.Client == nil) {
		return fmt.Errorf("%w: node TLS needs both the server and the client config", ErrInvalidConfig)
	}
	return nil
}

// advertised returns advertise when set, else bound.
func advertised(advertise, bound string) string {
	if advertise != "" {
		return advertise
	}
	return bound
}

// dialer is the dialer for connections to other nodes: from SourceIP when
// one is set.
//
// The connect timeout is short: nodes sit on one network, where a connect
// that takes seconds means a peer that is gone or frozen, and a frontend
// waiting on it would hold its client back from the failover.
func (c *Config) dialer() *net.Dialer {
	d := &net.Dialer{Timeout: 3 * time.Second}
	if ip := net.ParseIP(c.SourceIP); ip != nil {
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return d
}
