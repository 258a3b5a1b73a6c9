// Package directory runs a Rookery node's part of the mailbox directory: a
// Raft voter (directory role) or non-voter (every other role) over the fsm
// package's state machine, gossip membership, write forwarding, synced reads
// and the cluster API. See DESIGN.md.
package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/clusterapi"
	"github.com/rookery-mail/rookery/logging"
)

// Node is one Rookery node's membership in the directory.
type Node struct {
	cfg        Config
	log        *slog.Logger
	fsm        *fsm.FSM
	raft       *raft.Raft
	trans      *gatedTransport
	store      *raftboltdb.BoltStore
	snaps      *raft.FileSnapshotStore
	gossip     *memberlist.Memberlist
	gossipMeta *gossipDelegate
	api        *apiServer
	peers      *clusterapi.Client // for calls to other nodes' cluster API

	raftAddr string // advertised, after binding
	members  *memberTable
	events   chan struct{} // a member changed; the reconcile loop wakes
	nudges   chan struct{} // a write was applied; nudge.go

	// leaderReady is the term in which this node, as leader, has applied
	// every entry of earlier terms (a barrier); ReadIndex is served only then.
	leaderReady atomic.Uint64
	// leaderChanged is when (unix nanoseconds) raft last changed this
	// node's idea of the leader; see freshness.go.
	leaderChanged atomic.Int64
	// rounds are the ReadIndex rounds that synced reads share.
	rounds readRounds

	bootstrapMu  sync.Mutex
	bootstrapped atomic.Bool // raft state exists; no more bootstrap attempts

	ctx    context.Context // cancelled by Close; bounds the node's own work
	cancel context.CancelFunc

	closeMu   sync.RWMutex // held to close closed; read-held to add to futures
	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup // the node's own loops
	futures   sync.WaitGroup // goroutines waiting on raft futures
}

// Open starts the node: Raft over its data dir, the cluster API and gossip.
// It joins cfg.Join when given; a fresh cluster bootstraps when
// cfg.BootstrapExpect directory nodes have met, or by Bootstrap.
func Open(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{
		cfg:     cfg,
		log:     cfg.Logger.With("node_id", cfg.NodeID),
		fsm:     fsm.New(),
		members: newMemberTable(),
		events:  make(chan struct{}, 1),
		closed:  make(chan struct{}),
		nudges:  make(chan struct{}, 1),
		peers:   cfg.peerClient(),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.openRaft(); err != nil {
		n.cancel()
		n.cleanup()
		return nil, err
	}
	if err := n.openAPI(); err != nil {
		n.cancel()
		n.cleanup()
		return nil, err
	}
	if err := n.openGossip(); err != nil {
		n.cancel()
		n.cleanup()
		return nil, err
	}
	n.wg.Add(2)
	go n.reconcileLoop()
	go n.nudgeLoop()
	if len(cfg.Join) > 0 {
		if _, err := n.join(cfg.Join); err != nil {
			// Not fatal: the others may start later and join us.
			n.log.Warn("gossip join failed", "join", cfg.Join, "error", err)
		}
	}
	if len(cfg.GossipKey) == 0 {
		n.log.Warn("GOSSIP IS NOT ENCRYPTED: anyone who reaches the gossip port can join the cluster, "+
			"become a Raft voter and rewrite backends' addresses; set tls.gossip_key_file (rookery tls init writes one)",
			"gossip_addr", n.GossipAddr())
	}
	n.log.Info("directory node open", "raft_addr", n.raftAddr, "api_addr", n.APIAddr(),
		"gossip_addr", n.GossipAddr(), "voter", cfg.Voter())
	return n, nil
}

func (n *Node) openRaft() error {
	dir := filepath.Join(n.cfg.DataDir, "raft")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("directory: data dir: %w", err)
	}
	hl := logging.NewHCLog(n.log, "raft")
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
	if err != nil {
		return fmt.Errorf("directory: raft store: %w", err)
	}
	n.store = store
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hl.Named("snapshot"))
	if err != nil {
		return fmt.Errorf("directory: snapshot store: %w", err)
	}
	n.snaps = snaps
	stream, err := newRaftStream(n.cfg)
	if err != nil {
		return err
	}
	trans := &gatedTransport{NetworkTransport: raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  hl.Named("transport"),
	})}
	n.trans = trans
	n.raftAddr = string(trans.LocalAddr())

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.cfg.NodeID)
	rc.Logger = hl
	rc.HeartbeatTimeout = n.cfg.HeartbeatTimeout
	rc.ElectionTimeout = n.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = n.cfg.LeaderLeaseTimeout
	rc.CommitTimeout = n.cfg.CommitTimeout
	rc.SnapshotThreshold = n.cfg.SnapshotThreshold
	rc.SnapshotInterval = n.cfg.SnapshotInterval
	if n.cfg.MaxAppendEntries > 0 {
		rc.MaxAppendEntries = n.cfg.MaxAppendEntries
	}
	if n.cfg.TrailingLogs > 0 {
		rc.TrailingLogs = n.cfg.TrailingLogs
	}
	r, err := raft.NewRaft(rc, n.fsm, store, store, snaps, trans)
	if err != nil {
		return fmt.Errorf("directory: raft: %w", err)
	}
	n.raft = r
	n.watchLeaderChanges()
	return nil
}

// advertiseAddr resolves a bind address that can be advertised as is. A port
// of 0 returns nil: the transport then advertises the port it bound.
func advertiseAddr(addr string) (net.Addr, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: raft addr: %v", ErrInvalidConfig, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsUnspecified() {
		return nil, fmt.Errorf("%w: raft addr %q must be an IP others can reach", ErrInvalidConfig, addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p == 0 {
		return nil, nil
	}
	return &net.TCPAddr{IP: ip, Port: p}, nil
}

// Close stops the node without leaving the cluster: the others see it fail
// and it keeps its place in the Raft configuration, so that it can restart
// from its data dir. Use Leave first to depart for good.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.closeMu.Lock()
		close(n.closed)
		n.closeMu.Unlock()
		n.cancel()
		n.closeErr = n.cleanup()
		n.log.Info("directory node closed")
	})
	return n.closeErr
}

// cleanup stops whatever Open started, in reverse order.
func (n *Node) cleanup() error {
	var errs []error
	if n.gossip != nil {
		errs = append(errs, n.gossip.Shutdown())
	}
	if n.api != nil {
		errs = append(errs, n.api.close())
	}
	if n.raft != nil {
		errs = append(errs, n.raft.Shutdown().Error())
	}
	n.wg.Wait()
	n.futures.Wait()
	if n.trans != nil {
		errs = append(errs, n.trans.Close())
		n.trans.stopHeartbeats()
	}
	if n.store != nil {
		errs = append(errs, n.store.Close())
	}
	return errors.Join(errs...)
}

// ID is this node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// RaftAddr is the advertised Raft transport address.
func (n *Node) RaftAddr() string { return n.raftAddr }

// GossipAddr is the address others may Join.
func (n *Node) GossipAddr() string {
	if n.gossip == nil {
		return ""
	}
	return n.gossip.LocalNode().Address()
}

// IsLeader reports whether this node is the Raft leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the leader's node id and cluster API address, or empty
// strings when no leader is known.
func (n *Node) Leader() (id, apiAddr string) {
	_, lid := n.raft.LeaderWithID()
	if lid == "" {
		return "", ""
	}
	if string(lid) == n.cfg.NodeID {
		return n.cfg.NodeID, n.APIAddr()
	}
	m, ok := n.members.get(string(lid))
	if !ok {
		return string(lid), ""
	}
	return string(lid), m.meta.APIAddr
}

// isClosed reports whether Close has begun.
func (n *Node) isClosed() bool {
	select {
	case <-n.closed:
		return true
	default:
		return false
	}
}

// awaitFuture waits for a raft future until ctx is done or the node closes.
// The waiting goroutine ends when raft resolves the future, which it always
// does, at the latest on shutdown; Close waits for it.
func (n *Node) awaitFuture(ctx context.Context, f raft.Future) error {
	n.closeMu.RLock()
	if n.isClosed() {
		n.closeMu.RUnlock()
		return ErrClosed
	}
	n.futures.Add(1)
	n.closeMu.RUnlock()
	done := make(chan error, 1)
	go func() {
		defer n.futures.Done()
		done <- f.Error()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-n.closed:
		return ErrClosed
	}
}
