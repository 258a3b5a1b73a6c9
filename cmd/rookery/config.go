package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/rookery-mail/rookery/internal/node"
)

// Config is a node's configuration file: Default(), then the TOML file,
// then flags. It is the only place settings come from; nodeConfig turns it
// into the node.Config that internal/node assembles the node from.
type Config struct {
	NodeID        string   `toml:"node_id"`
	DataDir       string   `toml:"data_dir"`
	Roles         []string `toml:"roles"`
	ClusterSecret string   `toml:"cluster_secret"`
	LogFormat     string   `toml:"log_format"` // text or json
	LogLevel      string   `toml:"log_level"`  // debug, info, warn, error
	// SourceIP, when set, is the local address of every connection the node
	// opens to another node (Raft, gossip, cluster API, backend IMAP/LMTP).
	SourceIP string `toml:"source_ip"`
	// AdminAddr serves /metrics, /healthz, /readyz and the status page,
	// without authentication: bind it to loopback or a management network.
	// Empty (the default) serves none of them.
	AdminAddr string `toml:"admin_addr"`

	Directory DirectoryConfig `toml:"directory"`
	Backend   BackendConfig   `toml:"backend"`
	Frontend  FrontendConfig  `toml:"frontend"`
	Accounts  AccountsConfig  `toml:"accounts"`
	TLS       TLSConfig       `toml:"tls"`
}

// TLSConfig is the TLS between nodes. With NodeDir set, every link from one
// node to another (Raft, the cluster API and replication over it, frontend
// to backend IMAP and LMTP) is mutual TLS with the cluster CA, and a peer
// without a certificate that CA signed is refused.
type TLSConfig struct {
	// NodeDir holds node.crt, node.key and ca.crt, as `rookery tls issue`
	// writes them. Empty: node traffic travels in plaintext, for a private
	// network only.
	NodeDir string `toml:"node_dir"`
	// GossipKeyFile is the shared key that encrypts memberlist gossip
	// (`rookery tls init` writes gossip.key). Empty: gossip in plaintext.
	GossipKeyFile string `toml:"gossip_key_file"`
}

type DirectoryConfig struct {
	RaftAddr   string `toml:"raft_addr"`
	APIAddr    string `toml:"api_addr"`
	GossipAddr string `toml:"gossip_addr"`
	// The *_advertise addresses are where other nodes reach this one when
	// that is not the bound address (a proxy or NAT in front of the node).
	RaftAdvertise   string   `toml:"raft_advertise"`
	APIAdvertise    string   `toml:"api_advertise"`
	GossipAdvertise string   `toml:"gossip_advertise"`
	Join            []string `toml:"join"`
	BootstrapExpect int      `toml:"bootstrap_expect"`
	StaleAfter      Duration `toml:"stale_after"`
	// ReconcileInterval is how often the leader reconciles the whole member
	// list with the directory (member events trigger it sooner).
	ReconcileInterval Duration `toml:"reconcile_interval"`
}

type BackendConfig struct {
	ID       string `toml:"id"`
	IMAPAddr string `toml:"imap_addr"`
	LMTPAddr string `toml:"lmtp_addr"`
	// IMAPAdvertise and LMTPAdvertise go into the backend's registration
	// instead of the bound addresses when set.
	IMAPAdvertise string `toml:"imap_advertise"`
	LMTPAdvertise string `toml:"lmtp_advertise"`
	// POP3Addr serves POP3 to the frontends (empty: none; a frontend's
	// POP3 needs it on every backend); POP3Advertise goes into the node's
	// gossip tags instead of it when set.
	POP3Addr        string `toml:"pop3_addr"`
	POP3Advertise   string `toml:"pop3_advertise"`
	MaxMessageBytes int64  `toml:"max_message_bytes"`
	// ReplicationFactor is how many backends hold each new mailbox: 2 (a
	// primary and one replica) by default, 1 for none. Use one value
	// across the cluster.
	ReplicationFactor int `toml:"replication_factor"`
	// RestoreAfter is how long a replica's backend stays down before its
	// copies are made again on another backend ("2m" by default; a
	// negative value such as "-1s" never).
	RestoreAfter Duration `toml:"restore_after"`
	// GatherInterval, when set (e.g. "10s"), has this backend move one of
	// its users' mailboxes to the backend of the owner's INBOX each
	// interval, with the live move: the rebalancer. Off by default.
	GatherInterval Duration `toml:"gather_interval"`
}

type FrontendConfig struct {
	IMAPAddr            string   `toml:"imap_addr"`
	LMTPAddr            string   `toml:"lmtp_addr"`
	LMTPSocket          string   `toml:"lmtp_socket"`
	LMTPSocketMode      string   `toml:"lmtp_socket_mode"` // octal; the socket's directory usually governs access
	Domains             []string `toml:"domains"`
	AllowPlaintextLogin bool     `toml:"allow_plaintext_login"`
	MaxMessageBytes     int64    `toml:"max_message_bytes"`
	// TLSCertFile and TLSKeyFile are the certificate mail clients see
	// (usually from a public CA; read again when they change). With them
	// set, IMAP and LMTP offer STARTTLS and IMAPSAddr serves implicit TLS.
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
	IMAPSAddr   string `toml:"imaps_addr"`
	// POP3Addr serves POP3 (with STLS once the certificate is set),
	// POP3SAddr POP3 in implicit TLS (port 995); empty serves none.
	POP3Addr  string `toml:"pop3_addr"`
	POP3SAddr string `toml:"pop3s_addr"`
	// Client limits; zero or unset keeps the built-in default (see
	// docs/operations.md).
	MaxCommandBytes        int64    `toml:"max_command_bytes"`
	PreAuthMaxCommandBytes int      `toml:"preauth_max_command_bytes"`
	MaxPreAuthConns        int      `toml:"max_preauth_conns"`
	MaxPreAuthConnsPerAddr int      `toml:"max_preauth_conns_per_addr"`
	PreAuthTimeout         Duration `toml:"preauth_timeout"`
	LoginPenaltyBase       Duration `toml:"login_penalty_base"`
	LoginPenaltyMax        Duration `toml:"login_penalty_max"`
	FailedLoginWindow      Duration `toml:"failed_login_window"`
}

// Duration is a time.Duration written as "5s" in TOML.
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	d.Duration = v
	return err
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Default is a safe single-host starting point: every role, loopback only,
// plaintext login refused.
func Default() Config {
	host, _ := os.Hostname()
	return Config{
		NodeID:    host,
		DataDir:   "/var/lib/rookery",
		Roles:     []string{node.RoleDirectory, node.RoleBackend, node.RoleFrontend},
		LogFormat: "text",
		LogLevel:  "info",
		Directory: DirectoryConfig{
			RaftAddr:   "127.0.0.1:7000",
			APIAddr:    "127.0.0.1:7001",
			GossipAddr: "127.0.0.1:7002",
			StaleAfter: Duration{5 * time.Second},
		},
		Backend: BackendConfig{
			IMAPAddr:          "127.0.0.1:7143",
			LMTPAddr:          "127.0.0.1:7024",
			MaxMessageBytes:   50 << 20,
			ReplicationFactor: 2,
		},
		Frontend: FrontendConfig{
			IMAPAddr:        "127.0.0.1:143",
			LMTPAddr:        "127.0.0.1:24",
			LMTPSocketMode:  "0666",
			MaxMessageBytes: 50 << 20,
		},
	}
}

// LoadFile overlays the TOML file at path on c. Unknown keys are an error:
// a misspelt setting must not silently fall back to its default.
func (c *Config) LoadFile(path string) error {
	md, err := toml.DecodeFile(path, c)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if undec := md.Undecoded(); len(undec) > 0 {
		return fmt.Errorf("config %s: unknown setting %q", path, undec[0].String())
	}
	return nil
}

func (c *Config) Has(role string) bool { return slices.Contains(c.Roles, role) }

// Validate checks the settings only the file has, then the node's own
// through node.Config.Validate.
func (c *Config) Validate() error {
	var errs []error
	if c.Has(node.RoleBackend) && c.Backend.ID == "" {
		c.Backend.ID = c.NodeID
	}
	if _, err := c.socketMode(); err != nil {
		errs = append(errs, fmt.Errorf("frontend.lmtp_socket_mode %q: an octal mode such as 0660", c.Frontend.LMTPSocketMode))
	}
	if (c.Frontend.TLSCertFile == "") != (c.Frontend.TLSKeyFile == "") {
		errs = append(errs, errors.New("frontend.tls_cert_file and frontend.tls_key_file go together"))
	}
	if c.Frontend.IMAPSAddr != "" && c.Frontend.TLSCertFile == "" {
		errs = append(errs, errors.New("frontend.imaps_addr needs frontend.tls_cert_file and tls_key_file"))
	}
	if c.Frontend.POP3SAddr != "" && c.Frontend.TLSCertFile == "" {
		errs = append(errs, errors.New("frontend.pop3s_addr needs frontend.tls_cert_file and tls_key_file"))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log_format %q: text or json", c.LogFormat))
	}
	if _, err := c.accounts(); err != nil {
		errs = append(errs, err)
	}
	nc := c.nodeConfig(node.TLS{}, nil)
	errs = append(errs, nc.Validate())
	return errors.Join(errs...)
}

// noLoginWarning says why no mail client could log in to this node's
// frontend, or "" when one can: with plaintext login off and no client
// certificate, IMAP and POP3 offer no way to log in (LOGINDISABLED).
func (c *Config) noLoginWarning() string {
	if !c.Has(node.RoleFrontend) || c.Frontend.AllowPlaintextLogin || c.Frontend.TLSCertFile != "" {
		return ""
	}
	return "NO CLIENT CAN LOG IN to this frontend: allow_plaintext_login is off and [frontend] has no tls_cert_file, " +
		"so IMAP and POP3 refuse every login; set tls_cert_file and tls_key_file, or allow_plaintext_login = true on a trusted network"
}

func (c *Config) socketMode() (os.FileMode, error) {
	mode, err := strconv.ParseUint(c.Frontend.LMTPSocketMode, 8, 32)
	return os.FileMode(mode), err
}

// nodeConfig is the node.Config of c, with the TLS material that
// loadNodeTLS loaded from the files c names and the logger every component
// logs to.
func (c *Config) nodeConfig(t node.TLS, log *slog.Logger) node.Config {
	nc := node.Default()
	nc.NodeID = c.NodeID
	nc.DataDir = c.DataDir
	nc.Roles = c.Roles
	nc.ClusterSecret = c.ClusterSecret
	nc.SourceIP = c.SourceIP
	nc.AdminAddr = c.AdminAddr
	nc.TLS = t
	nc.Logger = log

	d := &nc.Directory
	d.RaftAddr = c.Directory.RaftAddr
	d.APIAddr = c.Directory.APIAddr
	d.GossipAddr = c.Directory.GossipAddr
	d.RaftAdvertise = c.Directory.RaftAdvertise
	d.APIAdvertise = c.Directory.APIAdvertise
	d.GossipAdvertise = c.Directory.GossipAdvertise
	d.Join = c.Directory.Join
	d.BootstrapExpect = c.Directory.BootstrapExpect
	if c.Directory.StaleAfter.Duration > 0 {
		d.StaleAfter = c.Directory.StaleAfter.Duration
	}
	if c.Directory.ReconcileInterval.Duration > 0 {
		d.ReconcileInterval = c.Directory.ReconcileInterval.Duration
	}

	nc.Backend.ID = c.Backend.ID
	nc.Backend.IMAPAddr = c.Backend.IMAPAddr
	nc.Backend.LMTPAddr = c.Backend.LMTPAddr
	nc.Backend.IMAPAdvertise = c.Backend.IMAPAdvertise
	nc.Backend.LMTPAdvertise = c.Backend.LMTPAdvertise
	nc.Backend.POP3Addr = c.Backend.POP3Addr
	nc.Backend.POP3Advertise = c.Backend.POP3Advertise
	nc.Backend.MaxMessageBytes = c.Backend.MaxMessageBytes
	nc.Backend.ReplicationFactor = c.Backend.ReplicationFactor
	nc.Backend.RestoreAfter = c.Backend.RestoreAfter.Duration
	nc.Backend.GatherInterval = c.Backend.GatherInterval.Duration

	f := &nc.Frontend
	f.IMAPAddr = c.Frontend.IMAPAddr
	f.IMAPSAddr = c.Frontend.IMAPSAddr
	f.POP3Addr = c.Frontend.POP3Addr
	f.POP3SAddr = c.Frontend.POP3SAddr
	f.LMTPAddr = c.Frontend.LMTPAddr
	f.LMTPSocket = c.Frontend.LMTPSocket
	f.LMTPSocketMode, _ = c.socketMode() // checked by Validate
	f.Domains = c.Frontend.Domains
	f.AllowPlaintextLogin = c.Frontend.AllowPlaintextLogin
	f.MaxMessageBytes = c.Frontend.MaxMessageBytes
	f.MaxCommandBytes = c.Frontend.MaxCommandBytes
	f.PreAuthMaxCommandBytes = c.Frontend.PreAuthMaxCommandBytes
	f.MaxPreAuthConns = c.Frontend.MaxPreAuthConns
	f.MaxPreAuthConnsPerAddr = c.Frontend.MaxPreAuthConnsPerAddr
	f.PreAuthTimeout = c.Frontend.PreAuthTimeout.Duration
	f.LoginPenaltyBase = c.Frontend.LoginPenaltyBase.Duration
	f.LoginPenaltyMax = c.Frontend.LoginPenaltyMax.Duration
	f.FailedLoginWindow = c.Frontend.FailedLoginWindow.Duration
	nc.Accounts, _ = c.accounts() // checked by Validate
	return nc
}
