package replication

import (
	"context"
	"net/http"
	"slices"
	"sync"

	"github.com/rookery-mail/rookery/internal/clusterapi"
)

// The epochs under which this backend acknowledged writes as a mailbox's
// primary, for observers: one epoch is one placement, which names one
// primary, so two backends that both acknowledged under the same
// (mailbox, epoch) would be two acknowledging primaries. The jepsen
// ownership checker polls it on every backend. The record is a sample,
// bounded in memory: the last maxAckedEpochs epochs of each mailbox, and
// at most maxAckedMailboxes mailboxes, past which it starts again empty.
const (
	routeAcked        = "GET /v1/backend/acknowledged"
	maxAckedEpochs    = 4
	maxAckedMailboxes = 10000
)

// AckedMailbox is one mailbox's entry in the record.
type AckedMailbox struct {
	ID     uint64   `json:"id"`
	Epochs []uint64 `json:"epochs"`
}

type ackRecord struct {
	mu     sync.Mutex
	epochs map[uint64][]uint64
}

// add notes that writes to mailbox id were acknowledged under epoch.
func (a *ackRecord) add(id, epoch uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.epochs == nil || len(a.epochs) >= maxAckedMailboxes {
		a.epochs = make(map[uint64][]uint64)
	}
	es := a.epochs[id]
	if slices.Contains(es, epoch) {
		return
	}
	es = append(es, epoch)
	if len(es) > maxAckedEpochs {
		es = es[len(es)-maxAckedEpochs:]
	}
	a.epochs[id] = es
}

func (a *ackRecord) list() []AckedMailbox {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]AckedMailbox, 0, len(a.epochs))
	for id, es := range a.epochs {
		out = append(out, AckedMailbox{ID: id, Epochs: slices.Clone(es)})
	}
	slices.SortFunc(out, func(x, y AckedMailbox) int {
		switch {
		case x.ID < y.ID:
			return -1
		case x.ID > y.ID:
			return 1
		}
		return 0
	})
	return out
}

// Acknowledged returns the record of the epochs this backend acknowledged
// writes under, by mailbox.
func (r *Replicator) Acknowledged() []AckedMailbox { return r.acked.list() }

func (r *Replicator) apiAcked(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, struct {
		Backend   string         `json:"backend"`
		Mailboxes []AckedMailbox `json:"mailboxes"`
	}{r.id, r.acked.list()})
}

const routeStats = "GET /v1/backend/replication"

// StatsView is Stats on the cluster API.
type StatsView struct {
	Backend         string  `json:"backend"`
	Commits         int64   `json:"commits"`
	LagP50Ms        float64 `json:"lag_p50_ms"`
	LagP99Ms        float64 `json:"lag_p99_ms"`
	Restored        int64   `json:"restored"`
	UnderReplicated int64   `json:"under_replicated"`
	// Replicas are the replicas of this backend's mailboxes and how far
	// each is behind, so that any node's status page can show them.
	Replicas []ReplicaLagView `json:"replicas"`
}

// ReplicaLagView is a ReplicaLag on the cluster API.
type ReplicaLagView struct {
	Replica string `json:"replica"`
	InSync  bool   `json:"in_sync"`
	// BehindSeconds is how long it has been out of the in-sync set: 0 in
	// sync, -1 when that predates the primary's process.
	BehindSeconds float64 `json:"behind_seconds"`
	Mailboxes     int     `json:"mailboxes"`
}

func (r *Replicator) apiStats(w http.ResponseWriter, _ *http.Request) {
	st := r.Stats()
	replicas := []ReplicaLagView{}
	for _, l := range r.ReplicaLags() {
		behind := -1.0
		if l.Behind >= 0 {
			behind = l.Behind.Seconds()
		}
		replicas = append(replicas, ReplicaLagView{Replica: l.Replica, InSync: l.InSync, BehindSeconds: behind, Mailboxes: l.Mailboxes})
	}
	writeJSON(w, StatsView{Backend: r.id, Commits: st.Commits,
		LagP50Ms: float64(st.LagP50.Microseconds()) / 1000, LagP99Ms: float64(st.LagP99.Microseconds()) / 1000,
		Restored: st.Restored, UnderReplicated: st.UnderReplicated, Replicas: replicas})
}

// StatsRemote asks the backend whose node's cluster API is at apiAddr for
// its replication figures as a primary.
func StatsRemote(ctx context.Context, api *clusterapi.Client, apiAddr string) (StatsView, error) {
	var v StatsView
	err := api.With(apiCodes).Call(ctx, http.MethodGet, apiAddr, "/v1/backend/replication", nil, nil, &v)
	return v, err
}
