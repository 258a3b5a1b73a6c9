package directory

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/rookery-mail/rookery/logging"
)

// memberState is a member's health as gossip last reported it.
type memberState int

const (
	memberAlive  memberState = iota
	memberFailed             // dead without saying goodbye: it may come back
	memberLeft               // left gracefully: gone for good
)

func (s memberState) String() string {
	switch s {
	case memberAlive:
		return "alive"
	case memberFailed:
		return "failed"
	}
	return "left"
}

// member is one node as gossip describes it.
type member struct {
	id    string
	state memberState
	meta  memberMeta
	since time.Time // when gossip last changed state (alive, failed, left)
}

// memberTable remembers every member gossip has told us about, including
// failed and departed ones, which memberlist's own list forgets.
type memberTable struct {
	mu sync.Mutex
	m  map[string]member
}

func newMemberTable() *memberTable { return &memberTable{m: make(map[string]member)} }

func (t *memberTable) set(m member) {
	t.mu.Lock()
	t.m[m.id] = m
	t.mu.Unlock()
}

func (t *memberTable) get(id string) (member, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m, ok := t.m[id]
	return m, ok
}

// all returns the members sorted by id.
func (t *memberTable) all() []member {
	t.mu.Lock()
	out := make([]member, 0, len(t.m))
	for _, m := range t.m {
		out = append(out, m)
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (n *Node) openGossip() error {
	host, portStr, err := net.SplitHostPort(n.cfg.GossipAddr)
	if err != nil {
		return fmt.Errorf("%w: gossip addr: %v", ErrInvalidConfig, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("%w: gossip port: %v", ErrInvalidConfig, err)
	}
	meta, err := n.cfg.meta(n.raftAddr, n.APIAddr())
	if err != nil {
		return fmt.Errorf("directory: gossip meta: %w", err)
	}
	if len(meta) > memberlist.MetaMaxSize {
		return fmt.Errorf("%w: gossip meta is %d bytes, over %d", ErrInvalidConfig, len(meta), memberlist.MetaMaxSize)
	}
	mc := lanGossipConfig()
	if n.cfg.GossipProfile == "local" {
		mc = memberlist.DefaultLocalConfig()
		mc.DeadNodeReclaimTime = time.Second
	}
	mc.Name = n.cfg.NodeID
	if len(n.cfg.GossipKey) > 0 {
		// Every gossip packet and stream is sealed with the shared key;
		// memberlist verifies both directions once a key is set.
		mc.SecretKey = n.cfg.GossipKey
	}
	mc.Logger = logging.StdLogger(n.log, "memberlist", slog.LevelInfo)
	trans, err := newGossipTransport(n.cfg, host, port, mc)
	if err != nil {
		return fmt.Errorf("directory: gossip transport: %w", err)
	}
	if port == 0 {
		port = trans.GetAutoBindPort()
	}
	mc.Transport = trans
	mc.BindAddr = host
	mc.BindPort = port
	mc.AdvertisePort = port
	if a := n.cfg.GossipAdvertise; a != "" {
		ahost, aport, _ := net.SplitHostPort(a) // checked by Validate
		mc.AdvertiseAddr = ahost
		mc.AdvertisePort, _ = strconv.Atoi(aport)
	}
	n.gossipMeta = &gossipDelegate{meta: meta, handlers: n.cfg.hintHandlers}
	mc.Delegate = n.gossipMeta
	mc.Events = &gossipEvents{n: n}
	ml, err := memberlist.Create(mc)
	if err != nil {
		trans.Shutdown()
		return fmt.Errorf("directory: gossip: %w", err)
	}
	n.gossip = ml
	return nil
}

// Rookery's LAN timing. Failure detection is most of the time a delivery
// to a dead primary waits: the leader fails its mailboxes over only once
// memberlist declares the node dead. memberlist's LAN profile probes every
// second and suspects for SuspicionMult*max(1, log10(n)) probe intervals,
// which put the failover 4 to 7 s after the death; these settings bring it
// to 2.5 to 3.5 s in a 3-node cluster (cmd/rookery's
// TestSIGKILLPrimaryFailover logs it). From 4 nodes a suspicion waits for
// other members to confirm it, for at most 3 x 2 s.
//
// The cost is false positives: a node that cannot answer a probe, nor
// refute the suspicion gossip carries to it, for 2 s (a stalled disk, a
// long pause) is declared dead. For a backend that costs a failover to an
// in-sync replica, which holds every acknowledged message, and a resync
// when it returns, never mail. A voter declared dead keeps its Raft seat.
const (
	// lanProbeInterval: each node probes one peer this often, so a dead
	// node in a 3-node cluster is probed within one interval.
	lanProbeInterval = 500 * time.Millisecond
	// lanProbeTimeout is the wait for a direct ack, far above a LAN's
	// round trip; the rest of the interval goes to indirect probes
	// through other members, so one lost packet is not a suspicion.
	lanProbeTimeout = 200 * time.Millisecond
	// lanSuspicionMult keeps a suspected node 4 intervals (2 s) to
	// refute, about 20 gossip rounds.
	lanSuspicionMult = 4
	// lanSuspicionMaxTimeoutMult bounds how long a suspicion may last
	// while it waits for other members to confirm it (from 4 nodes up):
	// 3 x 2 s instead of memberlist's 6 x, so a failover stays within a
	// few seconds even when few members probe the dead one.
	lanSuspicionMaxTimeoutMult = 3
	// lanGossipInterval spreads suspicions, refutations and deaths to
	// the leader twice as often as memberlist's LAN default.
	lanGossipInterval = 100 * time.Millisecond
)

// lanGossipConfig is memberlist's LAN profile with Rookery's timing.
func lanGossipConfig() *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	mc.ProbeInterval = lanProbeInterval
	mc.ProbeTimeout = lanProbeTimeout
	mc.SuspicionMult = lanSuspicionMult
	mc.SuspicionMaxTimeoutMult = lanSuspicionMaxTimeoutMult
	mc.GossipInterval = lanGossipInterval
	// A node that died and comes back on another address (a new IP, or a
	// port picked afresh) may take its name back this long after it was
	// declared dead; memberlist's default never allows it.
	mc.DeadNodeReclaimTime = 30 * time.Second
	return mc
}

// gossipDelegate publishes this node's metadata and takes hints: small
// best-effort messages between nodes (Node.Hint), never directory state.
type gossipDelegate struct {
	mu   sync.Mutex
	meta []byte
	// handlers, by a hint's first byte; set before gossip starts.
	handlers map[byte]func([]byte)
}

var _ memberlist.Delegate = (*gossipDelegate)(nil)

func (d *gossipDelegate) NodeMeta(limit int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.meta
}

func (d *gossipDelegate) setMeta(meta []byte) {
	d.mu.Lock()
	d.meta = meta
	d.mu.Unlock()
}

// NotifyMsg hands a hint to the handler of its kind; memberlist reuses
// msg, so the handler gets a copy.
func (d *gossipDelegate) NotifyMsg(msg []byte) {
	if len(msg) < 2 {
		return
	}
	if h := d.handlers[msg[0]]; h != nil {
		h(append([]byte(nil), msg[1:]...))
	}
}

func (d *gossipDelegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *gossipDelegate) LocalState(join bool) []byte                { return nil }
func (d *gossipDelegate) MergeRemoteState(buf []byte, join bool)     {}

// Hint kinds, the first byte of a hint.
const (
	HintLoginPenalty byte = 'p' // imapfront.PenaltyHint, JSON
)

// maxHintBytes bounds one hint's payload, well inside a gossip packet.
const maxHintBytes = 512

// OnHint sets the handler for hints of kind from the other nodes. It must
// be set before Open and must not block: memberlist calls it from its own
// goroutines. A hint comes from a node that holds the gossip key; with no
// key set (a warning at start) from anyone who reaches the gossip port, so
// a handler treats it as advice, never as authority.
func (c *Config) OnHint(kind byte, handle func(payload []byte)) {
	if c.hintHandlers == nil {
		c.hintHandlers = make(map[byte]func([]byte))
	}
	c.hintHandlers[kind] = handle
}

// Hint sends payload, as a hint of kind, to every other member gossip
// holds alive: one datagram each (sealed with the gossip key when one is
// set), not retried, so a hint may be lost. It does not wait for anyone.
// memberlist's own broadcasts reach only a few random members per message
// and are not passed on for user messages, which is why this is direct.
func (n *Node) Hint(kind byte, payload []byte) {
	if n.gossip == nil || len(payload) > maxHintBytes {
		return
	}
	msg := append([]byte{kind}, payload...)
	self := n.gossip.LocalNode().Name
	for _, m := range n.gossip.Members() {
		if m.Name == self {
			continue
		}
		if err := n.gossip.SendBestEffort(m, msg); err != nil {
			n.log.Debug("hint not sent", "to", m.Name, "error", err)
		}
	}
}

// gossipEvents records member changes and wakes the reconcile loop. It must
// not block: memberlist calls it from its own goroutines.
type gossipEvents struct{ n *Node }

var _ memberlist.EventDelegate = (*gossipEvents)(nil)

func (e *gossipEvents) NotifyJoin(m *memberlist.Node)   { e.record(m, memberAlive) }
func (e *gossipEvents) NotifyUpdate(m *memberlist.Node) { e.record(m, memberAlive) }

// NotifyLeave reports a member gone. The Node's State field does not say
// whether it left or failed (memberlist keeps that in its own record), so
// the member's last metadata does: see memberMeta.Leaving.
func (e *gossipEvents) NotifyLeave(m *memberlist.Node) { e.record(m, memberFailed) }

func (e *gossipEvents) record(m *memberlist.Node, state memberState) {
	var meta memberMeta
	if err := json.Unmarshal(m.Meta, &meta); err != nil {
		e.n.log.Warn("ignoring member with unreadable meta", "member", m.Name, "error", err)
		return
	}
	if state == memberFailed && meta.Leaving {
		state = memberLeft
	}
	since := time.Now()
	if old, ok := e.n.members.get(m.Name); ok && old.state == state {
		since = old.since
	}
	e.n.members.set(member{id: m.Name, state: state, meta: meta, since: since})
	e.n.log.Debug("member changed", "member", m.Name, "state", state.String())
	select {
	case e.n.events <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Leave departs the cluster gracefully: this node announces that it is
// leaving (so the leader will not add it back), has the leader remove it
// from the Raft configuration, and leaves gossip. Close the node afterwards.
func (n *Node) Leave(ctx context.Context) error {
	timeout := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	m := n.cfg.memberMeta(n.raftAddr, n.APIAddr())
	m.Leaving = true
	meta, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("directory: leave: %w", err)
	}
	n.gossipMeta.setMeta(meta)
	if err := n.gossip.UpdateNode(timeout / 3); err != nil {
		return fmt.Errorf("directory: leave: announcing: %w", err)
	}
	// Gossip may carry the leave to the leader late or not at all; asking it
	// directly makes the removal certain before this node goes.
	if err := n.RemoveNode(ctx, n.cfg.NodeID); err != nil {
		return fmt.Errorf("directory: leave: %w", err)
	}
	if err := n.gossip.Leave(timeout / 3); err != nil {
		return fmt.Errorf("directory: leave: %w", err)
	}
	n.log.Info("left the cluster")
	return nil
}
