package directory

import (
	"context"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rookery-mail/rookery/fsm"
)

// reconcileTimeout bounds one pass of the reconcile loop.
const reconcileTimeout = 30 * time.Second

// reconcileLoop is the node's background worker. On every node it watches
// for the moment to bootstrap; on the leader it turns gossip membership into
// the Raft configuration and backend states, and expires old reservations,
// in the manner of nomad's and consul's leader loops. Member events wake it;
// a periodic pass repairs anything an event missed (events may coalesce).
func (n *Node) reconcileLoop() {
	defer n.wg.Done()
	ticker := time.NewTicker(n.cfg.ReconcileInterval)
	defer ticker.Stop()
	leaderCh := n.raft.LeaderCh()
	expiryEvery := min(n.cfg.ReservationTTL/4, n.cfg.ReconcileInterval)
	expiry := time.NewTicker(expiryEvery)
	defer expiry.Stop()
	// Backends whose failure this leader has handled, so that it does not
	// propose the same release at every pass.
	handledDown := make(map[string]bool)
	for {
		expire := false
		select {
		case <-n.closed:
			return
		case <-leaderCh:
		case <-n.events:
		case <-ticker.C:
		case <-expiry.C:
			expire = true
		}
		ctx, cancel := context.WithTimeout(n.ctx, reconcileTimeout)
		n.maybeBootstrap(ctx)
		if !n.IsLeader() {
			clear(handledDown)
			cancel()
			continue
		}
		if n.establishLeadership(ctx) {
			n.reconcileMembers(ctx, handledDown)
			if expire {
				n.releaseExpired(ctx)
			}
		}
		cancel()
	}
}

// establishLeadership makes sure, once per term, that this leader has
// applied every entry committed before it won (a barrier), so that its FSM
// and commit index can serve reads. It reports whether that is done.
func (n *Node) establishLeadership(ctx context.Context) bool {
	term := n.raft.CurrentTerm()
	if n.leaderReady.Load() == term {
		return true
	}
	if err := n.awaitFuture(ctx, n.raft.Barrier(0)); err != nil {
		n.log.Warn("leader barrier failed", "term", term, "error", err)
		return false
	}
	n.leaderReady.Store(term)
	n.log.Info("leadership established", "term", term, "raft_index", n.raft.AppliedIndex())
	return true
}

// reconcileMembers brings the Raft configuration and backend states in line
// with gossip.
func (n *Node) reconcileMembers(ctx context.Context, handledDown map[string]bool) {
	f := n.raft.GetConfiguration()
	if err := n.awaitFuture(ctx, f); err != nil {
		n.log.Warn("reading raft configuration failed", "error", err)
		return
	}
	servers := make(map[string]raft.Server)
	for _, s := range f.Configuration().Servers {
		servers[string(s.ID)] = s
	}
	for _, m := range n.members.all() {
		if m.id != n.cfg.NodeID {
			n.reconcileServer(ctx, m, servers)
		}
		if id := m.meta.Tags[TagBackendID]; id != "" {
			n.reconcileBackend(ctx, id, m, handledDown)
		}
	}
}

// reconcileServer adds an alive member to the configuration (voter for the
// directory role, non-voter otherwise) and removes one that left. A failed
// member stays: it may come back, and only an operator removes it.
func (n *Node) reconcileServer(ctx context.Context, m member, servers map[string]raft.Server) {
	s, present := servers[m.id]
	id, addr := raft.ServerID(m.id), raft.ServerAddress(m.meta.RaftAddr)
	var f raft.IndexFuture
	switch {
	case (m.state == memberLeft || m.meta.Leaving) && present:
		f = n.raft.RemoveServer(id, 0, 0)
	case m.state != memberAlive || m.meta.Leaving:
		return
	case m.meta.voter():
		if present && s.Suffrage == raft.Voter && s.Address == addr {
			return
		}
		if !n.confirmed(ctx, m) {
			return
		}
		f = n.raft.AddVoter(id, addr, 0, 0)
	case present && s.Suffrage == raft.Voter:
		if !n.confirmed(ctx, m) {
			return
		}
		f = n.raft.DemoteVoter(id, 0, 0)
	default:
		if present && s.Address == addr {
			return
		}
		if !n.confirmed(ctx, m) {
			return
		}
		f = n.raft.AddNonvoter(id, addr, 0, 0)
	}
	if err := n.awaitFuture(ctx, f); err != nil {
		n.log.Warn("raft configuration change failed", "member", m.id, "state", m.state.String(), "error", err)
		return
	}
	n.log.Info("raft configuration changed", "member", m.id, "state", m.state.String(),
		"voter", m.meta.voter(), "raft_index", f.Index())
}

// confirmed is confirmIdentity, logging a refusal: the member is left as
// it is in the configuration and the directory until it passes.
func (n *Node) confirmed(ctx context.Context, m member) bool {
	if err := n.confirmIdentity(ctx, m); err != nil {
		n.log.Warn("member identity not confirmed; no change made for it", "member", m.id, "error", err)
		return false
	}
	return true
}

// reconcileBackend keeps a backend's directory record in line with its
// node's health: registered and up while alive; down, with every
// reservation it held released, once it fails or leaves (so that no name
// stays poisoned by a backend that crashed between Reserve and Activate).
func (n *Node) reconcileBackend(ctx context.Context, id string, m member, handledDown map[string]bool) {
	b, known := n.fsm.Backend(id)
	now := time.Now().UnixNano()
	var cmds []fsm.Command
	if m.state == memberAlive {
		delete(handledDown, id)
		imap, lmtp := m.meta.Tags[TagIMAPAddr], m.meta.Tags[TagLMTPAddr]
		switch {
		case !known || b.IMAPAddr != imap || b.LMTPAddr != lmtp || b.APIAddr != m.meta.APIAddr:
			weight := uint32(1)
			if known {
				weight = b.Weight
			}
			if !n.confirmed(ctx, m) {
				return
			}
			cmds = append(cmds, fsm.BackendRegister{ID: id, IMAPAddr: imap, LMTPAddr: lmtp,
				APIAddr: m.meta.APIAddr, Weight: weight, At: now})
		case b.State == fsm.BackendDown:
			cmds = append(cmds, fsm.SetBackendState{ID: id, State: fsm.BackendUp, At: now})
		}
	} else if !handledDown[id] || (known && b.State != fsm.BackendDown) {
		// Release first: once the backend reads down, its reservations are
		// gone; and the deletes it had begun are finished for it, before its
		// other mailboxes are promoted away.
		cmds = append(cmds, fsm.ReleaseReservations{Backend: id}, fsm.RemoveDeletions{Backend: id})
		if known {
			cmds = append(cmds, fsm.SetBackendState{ID: id, State: fsm.BackendDown, At: now})
		}
	}
	for _, c := range cmds {
		res, err := n.applyLocal(ctx, c)
		if err == nil {
			err = res.Err
		}
		if err != nil {
			n.log.Warn("backend reconcile failed", "backend", id, "command", c.Type(), "error", err)
			return
		}
		n.log.Info("backend reconciled", "backend", id, "member_state", m.state.String(),
			"command", c.Type(), "count", res.Count, "raft_index", res.Index)
	}
	if m.state != memberAlive {
		handledDown[id] = true
	}
}

// releaseExpired releases every reservation older than ReservationTTL, when
// there is one: a backend that reserved a name and never came back to
// activate or release it.
func (n *Node) releaseExpired(ctx context.Context) {
	cutoff := time.Now().Add(-n.cfg.ReservationTTL).UnixNano()
	old := false
	n.fsm.Reservations(func(mb *fsm.Mailbox) bool {
		old = mb.ReservedAt < cutoff
		return !old
	})
	if !old {
		return
	}
	res, err := n.applyLocal(ctx, fsm.ReleaseReservations{Before: cutoff})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		n.log.Warn("releasing expired reservations failed", "error", err)
		return
	}
	n.log.Info("expired reservations released", "count", res.Count, "raft_index", res.Index)
}
