package backend

import (
	"context"
	"hash/fnv"
	"slices"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// pickReplicas chooses the backends that hold replicas of a new mailbox:
// ReplicationFactor-1 of the up backends other than this one, fewer when
// fewer are up. The choice is rendezvous hashing of the name, weighted by
// nothing but the backends' count: it spreads mailboxes evenly without
// scanning the directory at every CREATE, and the same name always
// prefers the same backends.
func (b *Backend) pickReplicas(name string) []string {
	want := b.cfg.ReplicationFactor - 1
	if want <= 0 {
		return nil
	}
	ranked := b.rankBackends(name)
	return ranked[:min(want, len(ranked))]
}

// rankBackends orders the up backends other than this one by rendezvous
// hash of name, best first.
func (b *Backend) rankBackends(name string) []string {
	type scored struct {
		id    string
		score uint64
	}
	v, err := b.cfg.Directory.Read(context.Background(), directory.Local)
	if err != nil {
		b.log.Warn("no backends to rank: the directory could not be read", "err", err)
		return nil
	}
	var cands []scored
	for _, be := range v.Backends() {
		if be.ID == b.cfg.ID || be.State != fsm.BackendUp {
			continue
		}
		h := fnv.New64a()
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write([]byte(be.ID))
		cands = append(cands, scored{be.ID, h.Sum64()})
	}
	slices.SortFunc(cands, func(x, y scored) int {
		switch {
		case x.score > y.score:
			return -1
		case x.score < y.score:
			return 1
		}
		return 0
	})
	out := make([]string, len(cands))
	for i, c := range cands {
		out[i] = c.id
	}
	return out
}
