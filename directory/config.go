package directory

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"

	"github.com/hashicorp/memberlist"
)

// Roles a node may run.
const (
	RoleDirectory = "directory"
	RoleBackend   = "backend"
	RoleFrontend  = "frontend"
)

// TagBackendID is the member tag naming the backend a backend-role node
// serves; TagIMAPAddr and TagLMTPAddr are its listeners. The leader registers
// the backend in the directory from them. TagPOP3Addr, the backend's POP3
// listener, stays in gossip only: frontends read it with BackendTag.
const (
	TagBackendID = "backend_id"
	TagIMAPAddr  = "imap_addr"
	TagLMTPAddr  = "lmtp_addr"
	TagPOP3Addr  = "pop3_addr"
)

// Config configures a directory node.
type Config struct {
	NodeID  string
	DataDir string // raft log, stable store and snapshots live here
	Roles   []string

	RaftAddr   string // host:port, bound and advertised; port 0 picks one
	APIAddr    string // cluster API listener, host:port; port 0 picks one
	GossipAddr string // memberlist bind host:port; port 0 picks one
	Join       []string

	// RaftAdvertise, APIAdvertise and GossipAdvertise are the addresses
	// other nodes reach this one at, when not the bound ones (a proxy in
	// front of the node). Empty: the bound address.
	RaftAdvertise   string
	APIAdvertise    string
	GossipAdvertise string
	// SourceIP, when set, is the local address of every connection this
	// node opens to another node.
	SourceIP string

	// BootstrapExpect is the number of directory nodes that must meet in
	// gossip before a fresh cluster bootstraps itself. 0: only an explicit
	// Bootstrap does.
	BootstrapExpect int

	// StaleAfter bounds how old this node's last contact with the leader may
	// be for a Fresh read to read the local copy.
	StaleAfter time.Duration
	// ReservationTTL: the leader releases reservations older than this.
	ReservationTTL time.Duration
	// ReconcileInterval is how often the leader reconciles the whole member
	// list (events trigger it sooner).
	ReconcileInterval time.Duration

	// ClusterSecret authenticates cluster API calls (Bearer token).
	ClusterSecret string

	// ServerTLS and ClientTLS, when set, carry the Raft transport and the
	// cluster API in mutual TLS: ServerTLS on this node's listeners (it
	// must require client certificates), ClientTLS on its dials to other
	// nodes. Both or neither.
	ServerTLS *tls.Config
	ClientTLS *tls.Config
	// GossipKey, when set (16, 24 or 32 bytes), encrypts and authenticates
	// every memberlist message. Required with node TLS; without it Open
	// warns, since anyone who reaches the gossip port then joins.
	GossipKey []byte

	// Observer, when set, is told of every write and synced read this
	// node makes (the node's Prometheus metrics).
	Observer Observer

	// Tags travel in the gossip metadata (for example TagBackendID).
	Tags map[string]string

	// Raft timing. Default() gives values safe for production networks.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	SnapshotThreshold  uint64
	SnapshotInterval   time.Duration
	TrailingLogs       uint64
	// MaxAppendEntries is how many entries the leader writes and sends in
	// one batch (raft's default when 0; at most 1024).
	MaxAppendEntries int

	// GossipProfile picks memberlist's timing: "lan" (default; a dead node
	// is declared in about 2.5 s, see lanGossipConfig) or "local"
	// (memberlist's own loopback profile, slower to declare a death and so
	// more patient with a test host that is short of CPU).
	GossipProfile string

	Logger *slog.Logger

	hintHandlers map[byte]func([]byte) // OnHint

}

// Observer receives the directory's operations as they finish. result is
// "ok", "rejected" (a write that broke a rule of the directory) or "error".
type Observer interface {
	DirectoryApply(typ, result string)
	ForwardedWrite(result string, d time.Duration)
	SyncedRead(result string, d time.Duration)
}

// Default returns a Config with every timing set to its production default.
// NodeID, DataDir, Roles, addresses and ClusterSecret remain to be set.
func Default() Config {
	return Config{
		RaftAddr:           "127.0.0.1:7300",
		APIAddr:            "127.0.0.1:7301",
		GossipAddr:         "127.0.0.1:7302",
		StaleAfter:         5 * time.Second,
		ReservationTTL:     2 * time.Minute,
		ReconcileInterval:  30 * time.Second,
		HeartbeatTimeout:   1 * time.Second,
		ElectionTimeout:    1 * time.Second,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		CommitTimeout:      50 * time.Millisecond,
		SnapshotThreshold:  8192,
		SnapshotInterval:   2 * time.Minute,
		TrailingLogs:       10240,
		GossipProfile:      "lan",
	}
}

// Voter reports whether the node runs the directory role, and so votes.
func (c Config) Voter() bool { return slices.Contains(c.Roles, RoleDirectory) }

// Validate checks the config and returns an error wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.NodeID == "":
		return bad("node id is empty")
	case c.DataDir == "":
		return bad("data dir is empty")
	case c.ClusterSecret == "":
		return bad("cluster secret is empty")
	case len(c.Roles) == 0:
		return bad("no roles")
	case c.BootstrapExpect < 0:
		return bad("bootstrap expect %d < 0", c.BootstrapExpect)
	case c.GossipProfile != "" && c.GossipProfile != "lan" && c.GossipProfile != "local":
		return bad("gossip profile %q is neither lan nor local", c.GossipProfile)
	}
	for _, r := range c.Roles {
		if r != RoleDirectory && r != RoleBackend && r != RoleFrontend {
			return bad("unknown role %q", r)
		}
	}
	for name, addr := range map[string]string{"raft": c.RaftAddr, "api": c.APIAddr, "gossip": c.GossipAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return bad("%s addr %q: %v", name, addr, err)
		}
	}
	for name, addr := range map[string]string{"raft": c.RaftAdvertise, "api": c.APIAdvertise, "gossip": c.GossipAdvertise} {
		if addr == "" {
			continue
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil || net.ParseIP(host) == nil || port == "0" {
			return bad("%s advertise %q: an IP address and a port others can reach", name, addr)
		}
	}
	if (c.ServerTLS == nil) != (c.ClientTLS == nil) {
		return bad("server and client TLS must be set together")
	}
	if c.ServerTLS != nil && c.ServerTLS.ClientAuth != tls.RequireAndVerifyClientCert {
		return bad("server TLS must require and verify client certificates")
	}
	if c.ServerTLS != nil && len(c.GossipKey) == 0 {
		return bad("node TLS needs a gossip key: without one anyone who reaches the gossip port joins")
	}
	switch len(c.GossipKey) {
	case 0, 16, 24, 32:
	default:
		return bad("gossip key is %d bytes, want 16, 24 or 32", len(c.GossipKey))
	}
	if c.SourceIP != "" && net.ParseIP(c.SourceIP) == nil {
		return bad("source ip %q is not an IP address", c.SourceIP)
	}
	for name, d := range map[string]time.Duration{
		"stale after": c.StaleAfter, "reservation ttl": c.ReservationTTL,
		"reconcile interval": c.ReconcileInterval, "heartbeat timeout": c.HeartbeatTimeout,
		"election timeout": c.ElectionTimeout, "leader lease timeout": c.LeaderLeaseTimeout,
		"commit timeout": c.CommitTimeout, "snapshot interval": c.SnapshotInterval,
	} {
		if d <= 0 {
			return bad("%s must be positive", name)
		}
	}
	if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		return bad("leader lease timeout exceeds heartbeat timeout")
	}
	if c.MaxAppendEntries < 0 || c.MaxAppendEntries > 1024 {
		return bad("max append entries %d is outside 0..1024", c.MaxAppendEntries)
	}
	if c.SnapshotThreshold == 0 {
		return bad("snapshot threshold must be positive")
	}
	meta, err := c.meta("127.0.0.1:65535", "127.0.0.1:65535")
	if err != nil {
		return bad("gossip meta: %v", err)
	}
	if len(meta) > memberlist.MetaMaxSize-32 {
		return bad("gossip meta is %d bytes, over the limit of %d", len(meta), memberlist.MetaMaxSize-32)
	}
	return nil
}

// memberMeta is what each node tells the others through gossip.
type memberMeta struct {
	Roles    []string          `json:"roles"`
	RaftAddr string            `json:"raft_addr"`
	APIAddr  string            `json:"api_addr"`
	Tags     map[string]string `json:"tags,omitempty"`
	// Leaving is set just before a graceful leave: memberlist reports a
	// departed node the same way whether it left or failed, so the intent
	// travels in the metadata (as serf sends a leave intent).
	Leaving bool `json:"leaving,omitempty"`
}

func (c Config) meta(raftAddr, apiAddr string) ([]byte, error) {
	return json.Marshal(c.memberMeta(raftAddr, apiAddr))
}

func (c Config) memberMeta(raftAddr, apiAddr string) memberMeta {
	return memberMeta{Roles: c.Roles, RaftAddr: raftAddr, APIAddr: apiAddr, Tags: c.Tags}
}

func (m memberMeta) voter() bool { return slices.Contains(m.Roles, RoleDirectory) }
