package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
)

// Config is what New needs.
type Config struct {
	BackendID string
	Store     *spool.Store
	Directory directory.Directory
	// ClusterSecret authenticates replication calls to other backends.
	ClusterSecret string
	// HTTPClient carries replication and move calls; nil means a client
	// of the Replicator's own.
	HTTPClient *http.Client
	// TLS says the cluster API runs in TLS: calls go to https:// URLs,
	// which HTTPClient's transport must speak (clusterapi.Transport).
	TLS bool
	// ReplicaTimeout bounds one replica's sync on the acknowledgement
	// path; a replica that takes longer leaves the in-sync set.
	ReplicaTimeout time.Duration
	// CatchUpInterval is how often replicas out of sync are caught up.
	CatchUpInterval time.Duration
	// DirectoryTimeout bounds the directory calls that settle a move
	// whose own context failed.
	DirectoryTimeout time.Duration
	// ReplicationFactor is the number of copies a mailbox should have: a
	// move keeps its source as a replica when the others fall short.
	ReplicationFactor int
	// RankBackends orders the up backends other than this one for
	// mailbox name, best first: where a move goes when no target is
	// given and no in-sync replica is up. Nil ranks none.
	RankBackends func(name string) []string
	// RestoreAfter is how long a replica's backend must have been down
	// before this backend, as primary, gives the replica's mailboxes a
	// copy elsewhere (restore.go); 0 means DefaultRestoreAfter, negative
	// never.
	RestoreAfter time.Duration
	Logger       *slog.Logger
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
	case c.ReplicationFactor < 0:
		return fmt.Errorf("%w: ReplicationFactor %d", ErrInvalidConfig, c.ReplicationFactor)
	}
	if c.ReplicaTimeout <= 0 {
		c.ReplicaTimeout = 2 * time.Second
	}
	if c.CatchUpInterval <= 0 {
		c.CatchUpInterval = time.Second
	}
	if c.DirectoryTimeout <= 0 {
		c.DirectoryTimeout = 10 * time.Second
	}
	if c.RestoreAfter == 0 {
		c.RestoreAfter = DefaultRestoreAfter
	}
	if c.RankBackends == nil {
		c.RankBackends = func(string) []string { return nil }
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Replicator pushes this backend's changes to the replicas of the
// mailboxes it serves (DESIGN "Replication and failover"). On the ack
// path (the store's Replicator hook) it brings every in-sync replica up to
// date before the change is acknowledged, and drops a replica that fails
// from the in-sync set, durably, before it answers. A catch-up loop brings
// the other replicas up to date, merges diverged copies, and puts them
// back in the set. It also serves the replica side of the protocol and
// drives the live moves of the mailboxes it is primary of.
type Replicator struct {
	cfg     Config
	id      string
	store   *spool.Store
	dir     directory.Directory
	client  *Client
	server  *Server
	timeout time.Duration // per replica, per sync on the ack path
	log     *slog.Logger

	// runCtx ends when the Replicator closes: background work (catch-up,
	// settling a move) runs under it; wg waits for that work.
	runCtx  context.Context
	stopRun context.CancelFunc
	wg      sync.WaitGroup

	acked ackRecord

	mu sync.Mutex
	// running: between Start and Close; moves begin only then.
	running bool
	// mailboxMu serialises syncs of one mailbox (ack path and catch-up).
	mailboxMu map[uint64]*sync.Mutex
	// joining: replicas being caught up, which the ack path also waits
	// for, so that nothing acknowledged meanwhile escapes the catch-up.
	joining map[string]bool
	// dropped: replicas this backend has dropped from the in-sync set,
	// until the local directory copy shows it.
	dropped map[string]bool
	// outSince: when each replica left the in-sync set, as this backend
	// saw it; gone once it is back.
	outSince map[string]time.Time
	// pairMu: see lockPair.
	pairMu map[string]*sync.Mutex
	// known: the modseq each replica's copy had after our last sync, to
	// skip the state round trip on the ack path.
	known map[copyKey]uint64

	// moves: the moves this backend drives as their source, by mailbox.
	moves map[uint64]*moveState

	lag lagRing

	// restoring: backends given copies by restoreOnce, until their pair
	// is back in sync; floorRaised: mailboxes whose UID floor it raised.
	restoring       map[string]bool
	floorRaised     map[uint64]bool
	restored        atomic.Int64 // copies restored since start
	underReplicated atomic.Int64 // from the last restore round

	closed atomic.Bool // see Close
}

// The acknowledgement path is the store's replication hook.
var _ spool.Replicator = (*Replicator)(nil).Replicate

type copyKey struct {
	replica string
	mailbox uint64
}

// New builds the replication side of backend cfg.BackendID; Start puts
// it to work.
func New(cfg Config) (*Replicator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Replicator{
		cfg: cfg, id: cfg.BackendID, store: cfg.Store, dir: cfg.Directory,
		client:      NewClient(cfg.ClusterSecret, cfg.HTTPClient, cfg.TLS),
		timeout:     cfg.ReplicaTimeout,
		log:         cfg.Logger.With("component", "Replicator", "backend", cfg.BackendID),
		mailboxMu:   make(map[uint64]*sync.Mutex),
		joining:     make(map[string]bool),
		dropped:     make(map[string]bool),
		outSince:    make(map[string]time.Time),
		known:       make(map[copyKey]uint64),
		pairMu:      make(map[string]*sync.Mutex),
		moves:       make(map[uint64]*moveState),
		restoring:   make(map[string]bool),
		floorRaised: make(map[uint64]bool),
	}
	r.runCtx, r.stopRun = context.WithCancel(context.Background())
	var err error
	r.server, err = NewServer(ServerConfig{BackendID: cfg.BackendID, Store: cfg.Store,
		Directory: cfg.Directory, Logger: cfg.Logger, Floor: r.raiseFloor})
	if err != nil {
		r.stopRun()
		return nil, err
	}
	return r, nil
}

// Start runs before the backend serves: it brings the in-sync replicas
// level with what a crash may have left unreplicated, puts the replicator
// on the store's commit path and starts the catch-up loop; Close stops
// both.
func (r *Replicator) Start(ctx context.Context) error {
	if err := r.resyncInSync(ctx); err != nil {
		return fmt.Errorf("resync in-sync replicas: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return ErrClosed
	}
	r.store.SetOrigin(r.id)
	r.store.SetReplicator(r.Replicate)
	r.running = true
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.catchUpLoop(r.runCtx, r.cfg.CatchUpInterval)
	}()
	return nil
}

// Close makes every later Replicate call fail, so that nothing is
// acknowledged once the backend has stopped replicating (the hook stays
// on the store, refusing), stops the background work and waits for it.
func (r *Replicator) Close() {
	r.mu.Lock()
	r.running = false
	r.closed.Store(true)
	r.mu.Unlock()
	r.stopRun()
	r.wg.Wait()
}

// isRunning reports whether the replicator is between Start and Close.
func (r *Replicator) isRunning() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running
}

// Routes mounts the replica side of the protocol and the move route with
// handle, such as (*directory.Node).Handle.
func (r *Replicator) Routes(handle func(pattern string, h http.Handler)) {
	handle(routeMove, http.HandlerFunc(r.apiMove))
	handle(routeAcked, http.HandlerFunc(r.apiAcked))
	handle(routeStats, http.HandlerFunc(r.apiStats))
	r.server.Routes(handle)
}

// apply proposes cmd. A broken rule comes back as the fsm sentinel; a
// failure to reach the directory as ErrDirectory.
func (r *Replicator) apply(ctx context.Context, cmd fsm.Command) (fsm.Result, error) {
	res, err := r.dir.Apply(ctx, cmd)
	if err != nil {
		return res, fmt.Errorf("%w: %T: %w", ErrDirectory, cmd, err)
	}
	if res.Err != nil {
		return res, fmt.Errorf("%T: %w", cmd, res.Err)
	}
	return res, nil
}

// isBrokenRule tells a directory answer (someone else settled it first)
// from a failure to reach the directory.
func isBrokenRule(err error) bool {
	return !errors.Is(err, ErrDirectory)
}
