package node

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is a node's configuration: Default(), then the TOML file, then
// flags. It is the only place settings come from; every package below takes
// its own Config built from this one.
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
	IMAPAdvertise   string `toml:"imap_advertise"`
	LMTPAdvertise   string `toml:"lmtp_advertise"`
	MaxMessageBytes int64  `toml:"max_message_bytes"`
	// ReplicationFactor is how many backends hold each new mailbox: 2 (a
	// primary and one replica) by default, 1 for none. Use one value
	// across the cluster.
	ReplicationFactor int `toml:"replication_factor"`
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
}

// Duration is a time.Duration written as "5s" in TOML.
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	d.Duration = v
	return err
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

const (
	RoleDirectory = "directory"
	RoleBackend   = "backend"
	RoleFrontend  = "frontend"
)

// Default is a safe single-host starting point: every role, loopback only,
// plaintext login refused.
func Default() Config {
	host, _ := os.Hostname()
	return Config{
		NodeID:    host,
		DataDir:   "/var/lib/rookery",
		Roles:     []string{RoleDirectory, RoleBackend, RoleFrontend},
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

// Validate checks what no package below can: the mix of roles and the
// settings each needs.
func (c *Config) Validate() error {
	var errs []error
	if c.NodeID == "" {
		errs = append(errs, errors.New("node_id is required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir is required"))
	}
	if len(c.ClusterSecret) < 16 {
		errs = append(errs, errors.New("cluster_secret must be at least 16 characters"))
	}
	if len(c.Roles) == 0 {
		errs = append(errs, errors.New("roles: at least one of directory, backend, frontend"))
	}
	for _, r := range c.Roles {
		if r != RoleDirectory && r != RoleBackend && r != RoleFrontend {
			errs = append(errs, fmt.Errorf("roles: unknown role %q", r))
		}
	}
	if c.Has(RoleBackend) && c.Backend.ID == "" {
		c.Backend.ID = c.NodeID
	}
	if c.SourceIP != "" && net.ParseIP(c.SourceIP) == nil {
		errs = append(errs, fmt.Errorf("source_ip %q: an IP address", c.SourceIP))
	}
	for key, addr := range map[string]string{"backend.imap_advertise": c.Backend.IMAPAdvertise, "backend.lmtp_advertise": c.Backend.LMTPAdvertise} {
		if _, _, err := net.SplitHostPort(addr); addr != "" && err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %v", key, addr, err))
		}
	}
	if _, err := strconv.ParseUint(c.Frontend.LMTPSocketMode, 8, 32); err != nil {
		errs = append(errs, fmt.Errorf("frontend.lmtp_socket_mode %q: an octal mode such as 0660", c.Frontend.LMTPSocketMode))
	}
	if (c.Frontend.TLSCertFile == "") != (c.Frontend.TLSKeyFile == "") {
		errs = append(errs, errors.New("frontend.tls_cert_file and frontend.tls_key_file go together"))
	}
	if c.Frontend.IMAPSAddr != "" && c.Frontend.TLSCertFile == "" {
		errs = append(errs, errors.New("frontend.imaps_addr needs frontend.tls_cert_file and tls_key_file"))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log_format %q: text or json", c.LogFormat))
	}
	return errors.Join(errs...)
}
