// Package backend is the backend role: it ties a spool to the directory,
// serves it over IMAP and LMTP, and owns the mailbox life cycle (create,
// delete, rename, and the reconciliation of disk and directory at start)
// and the placement of new copies. Its replication side (package
// replication) it builds from its Config and hooks to the store and to
// its cluster API routes.
package backend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rookery-mail/rookery/backend/imapd"
	"github.com/rookery-mail/rookery/backend/lmtpd"
	"github.com/rookery-mail/rookery/backend/pop3d"
	"github.com/rookery-mail/rookery/backend/quota"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/batchconn"
	"github.com/rookery-mail/rookery/internal/clusterapi"
	"github.com/rookery-mail/rookery/replication"
	"github.com/rookery-mail/rookery/spool"
)

// Config is what New needs.
type Config struct {
	ID        string // backend id in the directory
	Store     *spool.Store
	Directory directory.Directory
	// ClusterSecret authenticates frontends to the backend IMAP server.
	ClusterSecret string
	// IMAPAddr and LMTPAddr are the listen addresses (port 0 picks one);
	// the bound addresses are what the directory records.
	IMAPAddr string
	LMTPAddr string
	// POP3Addr, when set, serves POP3 (package pop3d) there. Frontends
	// find it in the node's gossip tags, not in the directory.
	POP3Addr string
	// IMAPAdvertise and LMTPAdvertise, when set, are what the directory
	// records instead of the bound addresses: where frontends reach this
	// backend through a proxy or NAT.
	IMAPAdvertise string
	LMTPAdvertise string
	// APIAddr is the node's cluster API address, recorded for replication.
	APIAddr         string
	Weight          uint32
	MaxMessageBytes int64 // 0: the store's limit
	TLS             *tls.Config
	// NodeTLS, when set, wraps the backend's IMAP and LMTP listeners in
	// TLS from the first byte: the mutual TLS of node-to-node traffic, so
	// only frontends holding a certificate of the cluster CA get in.
	NodeTLS            *tls.Config
	AllowPlaintextAuth bool
	DirectoryTimeout   time.Duration
	Logger             *slog.Logger

	// ReplicationFactor is the number of copies of each mailbox this
	// backend creates (itself and ReplicationFactor-1 replicas, fewer when
	// fewer backends are up); 0 means DefaultReplicationFactor.
	ReplicationFactor int
	// ReplicaTimeout bounds one replica's sync on the acknowledgement
	// path; a replica that takes longer leaves the in-sync set.
	ReplicaTimeout time.Duration
	// CatchUpInterval is how often replicas out of sync are caught up.
	CatchUpInterval time.Duration
	// RestoreAfter is how long a replica's backend stays down before this
	// backend gives the replica's mailboxes a copy elsewhere; 0 means
	// replication's default, negative never.
	RestoreAfter time.Duration
	// SettleInterval is how often the deletes this backend could not
	// finish are finished; 0 means SettleInterval.
	SettleInterval time.Duration
	// GatherInterval, when positive, runs the rebalancer (gather.go): one
	// of this backend's user mailboxes moved to its owner's INBOX's
	// backend each interval. 0 leaves mailboxes where they are.
	GatherInterval time.Duration
	// ReplicaHTTPClient carries replication calls (and those for other
	// backends' quota usage); nil means a client of the backend's own.
	ReplicaHTTPClient *http.Client
	// QuotaCacheFor is how long another backend's figure of a user's
	// usage is used without asking again; 0 means quota.DefaultCacheFor,
	// negative asks at every write.
	QuotaCacheFor time.Duration
}

// DefaultReplicationFactor: a primary and one replica.
const DefaultReplicationFactor = 2

// Validate checks c and fills in defaults.
func (c *Config) Validate() error {
	switch {
	case c.ID == "":
		return fmt.Errorf("%w: ID is required", ErrInvalidConfig)
	case c.Store == nil:
		return fmt.Errorf("%w: Store is required", ErrInvalidConfig)
	case c.Directory == nil:
		return fmt.Errorf("%w: Directory is required", ErrInvalidConfig)
	case c.ClusterSecret == "":
		return fmt.Errorf("%w: ClusterSecret is required", ErrInvalidConfig)
	case c.IMAPAddr == "" || c.LMTPAddr == "":
		return fmt.Errorf("%w: IMAPAddr and LMTPAddr are required", ErrInvalidConfig)
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = c.Store.MaxMessageBytes()
	}
	if c.Weight == 0 {
		c.Weight = 1
	}
	if c.DirectoryTimeout <= 0 {
		c.DirectoryTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ReplicationFactor < 0 {
		return fmt.Errorf("%w: ReplicationFactor %d", ErrInvalidConfig, c.ReplicationFactor)
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = DefaultReplicationFactor
	}
	if c.ReplicaTimeout <= 0 {
		c.ReplicaTimeout = 2 * time.Second
	}
	if c.CatchUpInterval <= 0 {
		c.CatchUpInterval = time.Second
	}
	if c.SettleInterval <= 0 {
		c.SettleInterval = SettleInterval
	}
	if c.GatherInterval < 0 {
		return fmt.Errorf("%w: GatherInterval %v", ErrInvalidConfig, c.GatherInterval)
	}
	return nil
}

// Backend is a running backend role.
type Backend struct {
	cfg  Config
	log  *slog.Logger
	imap *imapd.Server
	lmtp *lmtpd.Server
	pop3 *pop3d.Server // nil without POP3Addr

	repl *replication.Replicator
	// api calls other backends' nodes (a create placed there, a user's
	// usage there).
	api *clusterapi.Client
	// quota counts users' usage across backends for IMAP and LMTP.
	quota *quota.Meter
	// stopSettle ends the settle loop (settle.go) and the rebalancer
	// (gather.go); set by Start.
	stopSettle context.CancelFunc

	mu        sync.Mutex
	started   bool
	closed    bool
	imapLn    net.Listener
	localSrv  *localServers  // set by Start, under mu
	serving   sync.WaitGroup // the Serve calls of the servers
	lmtpLn    net.Listener
	pop3Ln    net.Listener
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New builds a backend; Start brings it into service.
func New(cfg Config) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Backend{cfg: cfg, log: cfg.Logger.With("component", "backend", "backend", cfg.ID)}
	hc := cfg.ReplicaHTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	b.api = clusterapi.NewClient(cfg.ClusterSecret, hc, cfg.NodeTLS != nil, apiCodes)
	b.quota = quota.NewMeter(quota.MeterConfig{Backend: cfg.ID, Store: cfg.Store, Remote: UsageRemote{b.api}, CacheFor: cfg.QuotaCacheFor})
	srv, err := imapd.New(imapd.Config{
		BackendID:          cfg.ID,
		Store:              cfg.Store,
		Directory:          cfg.Directory,
		Mailboxes:          b,
		ClusterSecret:      cfg.ClusterSecret,
		MaxMessageBytes:    cfg.MaxMessageBytes,
		TLS:                cfg.TLS,
		AllowPlaintextAuth: cfg.AllowPlaintextAuth,
		DirectoryTimeout:   cfg.DirectoryTimeout,
		Logger:             cfg.Logger,
		Quota:              b.quota,
	})
	if err != nil {
		return nil, err
	}
	b.imap = srv
	if b.lmtp, err = newLMTP(cfg, b.quota); err != nil {
		srv.Close()
		return nil, err
	}
	if b.pop3, err = newPOP3(cfg); err != nil {
		srv.Close()
		b.lmtp.Close()
		return nil, err
	}
	b.repl, err = replication.New(replication.Config{
		BackendID: cfg.ID, Store: cfg.Store, Directory: cfg.Directory,
		ClusterSecret: cfg.ClusterSecret, HTTPClient: cfg.ReplicaHTTPClient, TLS: cfg.NodeTLS != nil,
		ReplicaTimeout: cfg.ReplicaTimeout, CatchUpInterval: cfg.CatchUpInterval, RestoreAfter: cfg.RestoreAfter,
		DirectoryTimeout: cfg.DirectoryTimeout, ReplicationFactor: cfg.ReplicationFactor,
		RankBackends: b.rankBackends, Logger: cfg.Logger,
	})
	if err != nil {
		srv.Close()
		b.lmtp.Close()
		return nil, err
	}
	return b, nil
}

// Start listens, registers the backend in the directory with the bound
// addresses, reconciles disk and directory, and then serves. It returns
// once the backend serves; Close stops it.
func (b *Backend) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.started {
		return errors.New("backend: already started")
	}
	var err error
	if b.imapLn, err = net.Listen("tcp", b.cfg.IMAPAddr); err != nil {
		return fmt.Errorf("listen imap: %w", err)
	}
	if b.lmtpLn, err = net.Listen("tcp", b.cfg.LMTPAddr); err != nil {
		b.imapLn.Close()
		return fmt.Errorf("listen lmtp: %w", err)
	}
	// The LMTP server's replies to a pipelined transaction leave together,
	// and so does the IMAP server's answer to a command, which it writes
	// a line at a time (beneath TLS, which needs its own connection type
	// on top, and which the IMAP server looks for).
	b.lmtpLn = batchconn.Listen(b.lmtpLn)
	b.imapLn = batchconn.Listen(b.imapLn)
	if err := b.listenPOP3(); err != nil {
		b.imapLn.Close()
		b.lmtpLn.Close()
		return err
	}
	if b.cfg.NodeTLS != nil {
		b.imapLn = tls.NewListener(b.imapLn, b.cfg.NodeTLS)
		b.lmtpLn = tls.NewListener(b.lmtpLn, b.cfg.NodeTLS)
	}
	if err := b.register(ctx); err != nil {
		b.closeListeners()
		return err
	}
	if _, err := b.Reconcile(ctx); err != nil {
		b.closeListeners()
		return err
	}
	if err := b.repl.Start(ctx); err != nil {
		b.closeListeners()
		return err
	}
	b.started = true
	settleCtx, stopSettle := context.WithCancel(context.Background())
	b.stopSettle = stopSettle
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.settleLoop(settleCtx, b.cfg.SettleInterval)
	}()
	if b.cfg.GatherInterval > 0 {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.gatherLoop(settleCtx, b.cfg.GatherInterval)
		}()
	}
	b.serve("imap", func() error { return b.imap.Serve(b.imapLn) })
	b.serve("lmtp", func() error { return b.lmtp.Serve(b.lmtpLn) })
	local := &localServers{
		imap: newLocalListener(b.imapLn.Addr()), lmtp: newLocalListener(b.lmtpLn.Addr()),
		imapAddr: orBound(b.cfg.IMAPAdvertise, b.imapLn), lmtpAddr: orBound(b.cfg.LMTPAdvertise, b.lmtpLn),
	}
	b.localSrv = local
	b.serve("imap-local", func() error { return b.imap.Serve(local.imap) })
	b.serve("lmtp-local", func() error { return b.lmtp.Serve(local.lmtp) })
	if b.pop3 != nil {
		b.serve("pop3", func() error { return b.pop3.Serve(b.pop3Ln) })
	}
	b.log.Info("backend serving", "imap_addr", b.imapLn.Addr().String(), "lmtp_addr", b.lmtpLn.Addr().String())
	return nil
}

// orBound is the advertised address if there is one, else the listener's.
func orBound(advertise string, ln net.Listener) string {
	if advertise != "" {
		return advertise
	}
	return ln.Addr().String()
}

// register records this backend and its addresses in the directory and
// waits until the local copy has the record.
//
// Registering again is harmless, so a directory failure whose outcome is
// unknown (leadership lost while the entry was committing, which happens
// when a node restarts into an election) is retried until ctx ends, not
// taken as a reason to stop the node.
func (b *Backend) register(ctx context.Context) error {
	var res fsm.Result
	var err error
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		res, err = b.apply(ctx, fsm.BackendRegister{
			ID:       b.cfg.ID,
			IMAPAddr: orBound(b.cfg.IMAPAdvertise, b.imapLn),
			LMTPAddr: orBound(b.cfg.LMTPAdvertise, b.lmtpLn),
			APIAddr:  b.cfg.APIAddr,
			Weight:   b.cfg.Weight,
			At:       time.Now().UnixNano(),
		})
		if err == nil || !errors.Is(err, ErrDirectory) {
			break
		}
		b.log.Warn("registering the backend failed; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return fmt.Errorf("register backend: %w", err)
		case <-time.After(wait):
		}
	}
	if err != nil {
		return fmt.Errorf("register backend: %w", err)
	}
	if err := b.cfg.Directory.WaitApplied(ctx, res.Index); err != nil {
		return fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	return nil
}

func (b *Backend) serve(what string, fn func() error) {
	b.wg.Add(1)
	b.serving.Add(1)
	go func() {
		defer b.wg.Done()
		defer b.serving.Done()
		if err := fn(); err != nil && !b.isClosed() {
			b.log.Error("server stopped", "server", what, "err", err)
		}
	}()
}

func (b *Backend) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

func (b *Backend) closeListeners() {
	b.imapLn.Close()
	b.lmtpLn.Close()
	if b.localSrv != nil {
		b.localSrv.imap.Close()
		b.localSrv.lmtp.Close()
	}
	if b.pop3Ln != nil {
		b.pop3Ln.Close()
	}
}

// IMAPAddr and LMTPAddr are the bound addresses once Start has returned.
func (b *Backend) IMAPAddr() string { return b.imapLn.Addr().String() }
func (b *Backend) LMTPAddr() string { return b.lmtpLn.Addr().String() }

// Close stops serving and waits for the servers. The store and the
// directory belong to the caller and stay open.
func (b *Backend) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		if b.stopSettle != nil {
			b.stopSettle()
		}
		b.mu.Unlock()
		// The hook stays, refusing: a write that reaches the store after
		// this is never acknowledged unreplicated.
		b.repl.Close()
		// The listeners close first and every Serve returns before the
		// servers close their connections: a Serve that had not yet begun
		// would take a listener up afterwards and wait on it for ever,
		// and go-imap's Close waits for its Serves without excluding one
		// that is only starting.
		b.mu.Lock()
		if b.started {
			b.closeListeners()
		}
		b.mu.Unlock()
		b.serving.Wait()
		err = errors.Join(closed(b.imap.Close()), closed(b.lmtp.Close()), closed(b.closePOP3()))
		b.wg.Wait()
	})
	return err
}

// closed is a server's Close error, less the one for the listeners it
// closes again.
func closed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Replication is the backend's replication side: its live moves and
// replication figures.
func (b *Backend) Replication() *replication.Replicator { return b.repl }
