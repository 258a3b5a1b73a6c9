package spool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultMaxMessageBytes bounds a message when Options leaves it zero.
const DefaultMaxMessageBytes = 50 << 20

// Options configure a Store.
type Options struct {
	Dir             string
	MaxMessageBytes int64 // 0: DefaultMaxMessageBytes
	Logger          *slog.Logger
}

// Store is a backend's mail spool: immutable message files named by the
// sha256 of their body, and a bbolt index of mailboxes and their records.
// All writes to the index go through one committer goroutine, which packs
// concurrent writers into one transaction and one fsync.
type Store struct {
	dir     string
	maxSize int64
	log     *slog.Logger
	db      *bolt.DB

	// closeMu guards closed; submit holds it shared while it checks closed
	// and counts itself in sending, so that Close knows no op arrives
	// after the sends in flight.
	closeMu sync.RWMutex
	closed  bool
	sending sync.WaitGroup
	ops     chan *op
	quit    chan struct{}
	done    chan struct{}
	// replicaOps and replicaDone: the same for replicas' applies.
	replicaOps  chan *op
	replicaDone chan struct{}

	pinMu sync.Mutex
	pins  map[string]int // guid -> writers between file and index commit
	// staged holds the small bodies written and not yet committed, for
	// as long as they are pinned; garbage, the inline bodies that lost
	// their last reference, for the next commit to delete (inline.go).
	staged      map[string][]byte
	stagedBytes int64
	garbage     []string
	// recheck: unreferenced bodies a pin kept, to remove at their last
	// unpin.
	recheck map[string]bool

	watchMu  sync.RWMutex
	watchers map[int]func(Change)
	stats    counters
	watchSeq int

	// Replication (replication.go). From just before an index commit
	// until its replication is done, replicating names the commit and the
	// mailboxes it changed; the reads that serve clients of those
	// mailboxes wait for it (visibleView), so that no client sees a change
	// the replicas may lack, while reads of other mailboxes go on. visMu
	// guards replicating and is held only to read or set it.
	visMu       sync.Mutex
	replicating *replicatingCommit
	replicator  atomic.Pointer[Replicator]
	origin      atomic.Pointer[string]
	hookCtx     context.Context
	hookCancel  context.CancelFunc
	// visWait, when set (by tests), is told of each read of a mailbox that
	// waits for its replication.
	visWait func(mailbox uint64)
}

// Open opens (creating if needed) the store in o.Dir. Files left by a crash
// between writing a body and committing its index record are removed.
func Open(o Options) (*Store, error) {
	if o.Dir == "" {
		return nil, fmt.Errorf("%w: no directory given", ErrIO)
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{o.Dir, filepath.Join(o.Dir, messagesDir), filepath.Join(o.Dir, tmpDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fsError("create spool directory", err)
		}
	}
	if err := syncPaths([]string{o.Dir, filepath.Join(o.Dir, messagesDir)}); err != nil {
		return nil, err
	}
	if err := makeBodyDirs(o.Dir); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(o.Dir, indexFile), 0o600, &bolt.Options{Timeout: 5 * time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fsError("open index", err)
	}
	s := &Store{
		dir:         o.Dir,
		maxSize:     o.MaxMessageBytes,
		log:         o.Logger,
		db:          db,
		ops:         make(chan *op, maxBatch),
		replicaOps:  make(chan *op, maxBatch),
		replicaDone: make(chan struct{}),
		quit:        make(chan struct{}),
		done:        make(chan struct{}),
		pins:        make(map[string]int),
		staged:      make(map[string][]byte),
		recheck:     make(map[string]bool),
		watchers:    make(map[int]func(Change)),
	}
	s.hookCtx, s.hookCancel = context.WithCancel(context.Background())
	if err := s.recover(); err != nil {
		s.hookCancel()
		db.Close()
		return nil, err
	}
	go s.commitLoop()
	go s.replicaLoop()
	return s, nil
}

// recover makes the store whole after a crash: the index buckets exist,
// temp files are gone, and no message file is left without a reference.
func (s *Store) recover() error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		// A store without the list of unreferenced inline bodies (written
		// before it) is searched whole, once.
		listed := tx.Bucket(bucketUnreferenced) != nil
		for _, b := range [][]byte{bucketMailboxes, bucketQuarantine, bucketBodies, bucketCache, bucketInline, bucketUnreferenced} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		n, err := removeOrphanInline(tx, listed)
		if n > 0 {
			s.log.Info("spool: removed unreferenced inline bodies", "count", n)
		}
		return err
	})
	if err != nil {
		return fsError("initialise index", err)
	}
	if err := s.clearTmp(); err != nil {
		return err
	}
	if err := s.removeOrphans(); err != nil {
		return err
	}
	return s.countIndex()
}

// Close waits for queued writes to commit and closes the index. Later
// calls fail with ErrClosed.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	s.closeMu.Unlock()
	s.hookCancel()
	s.sending.Wait() // the committers are running: the queues have room
	close(s.quit)
	<-s.done
	<-s.replicaDone
	if err := s.db.Close(); err != nil {
		return fsError("close index", err)
	}
	return nil
}

// MaxMessageBytes is the largest body the store accepts.
func (s *Store) MaxMessageBytes() int64 { return s.maxSize }

func (s *Store) isClosed() bool {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	return s.closed
}

// view runs a read-only transaction, failing with ErrClosed after Close.
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	err := s.db.View(fn)
	if err != nil && !isSpoolError(err) {
		return fsError("read index", err)
	}
	return err
}

// isSpoolError reports whether err already carries one of the sentinels.
func isSpoolError(err error) bool {
	for _, e := range []error{ErrNoMailbox, ErrNoMessage, ErrMailboxExists, ErrInvalidMeta,
		ErrInvalidFlag, ErrInvalidGUID, ErrUIDsExhausted, ErrTooBig, ErrDiskFull, ErrIO, ErrClosed,
		ErrNotReplicated, ErrReplicaConflict, ErrMissingBody} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
