package replication

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/rookery-mail/rookery/spool"
)

// The copy of a live move (move.go, step 2): the bulk copy of a
// snapshot of the records in chunks, then catch-up rounds for what arrived
// meanwhile.

// moveChunk is how many records one apply of the bulk copy carries: big
// enough to amortise a transaction, small enough to report progress and
// keep a body import's pins short.
const moveChunk = 512

// catchUpRounds bounds the syncs between the bulk copy and the join; each
// sends what arrived during the one before.
const catchUpRounds = 4

// bulkCopy sends the mailbox to the target in chunks by modseq, each one
// apply conditional on the last: a snapshot of the records, read once.
// The target's copy may change between its state and an apply (the
// target may be becoming a replica of the mailbox at the same time, its
// copy made by the replication stream): a conflict starts the copy again
// from the target's state then, a few times.
func (r *Replicator) bulkCopy(ctx context.Context, target, addr string, id uint64, p *MoveProgress, report func(MoveProgress)) error {
	for attempt := 1; ; attempt++ {
		err := r.bulkCopyOnce(ctx, target, addr, id, p, report)
		if !errors.Is(err, ErrConflict) || attempt == bulkCopyAttempts {
			return err
		}
		r.log.Info("the target's copy changed during the move's copy; starting again from its state",
			"mailbox_id", id, "target", target, "attempt", attempt, "err", err)
	}
}

// bulkCopyAttempts bounds the copies bulkCopy starts after conflicts.
const bulkCopyAttempts = 4

func (r *Replicator) bulkCopyOnce(ctx context.Context, target, addr string, id uint64, p *MoveProgress, report func(MoveProgress)) error {
	p.Copied = 0
	mine, err := r.store.ReplicaState(id)
	if err != nil {
		return err
	}
	states, err := r.client.State(ctx, addr, []uint64{id})
	if err != nil {
		return err
	}
	since, whole := uint64(0), false
	switch theirs := states[0]; {
	case !theirs.Exists:
	case mine.SharesHistory(theirs):
		since = theirs.HighestModSeq
	default:
		whole = true // a stale copy of an earlier move: replaced
	}
	cb, err := r.store.ChangesSince(id, since, whole)
	if err != nil {
		return err
	}
	p.Total = len(cb.Records)
	report(*p)
	for _, chunk := range chunkBatch(cb, moveChunk) {
		if err := r.sendRetrying(ctx, addr, chunk); err != nil {
			return err
		}
		p.Copied += len(chunk.Records)
		report(*p)
	}
	r.setKnown(copyKey{target, id}, cb.HighestModSeq)
	return nil
}

// sendRetrying sends one batch, again with every body if the target lost
// one it said it had.
func (r *Replicator) sendRetrying(ctx context.Context, addr string, cb spool.ChangeBatch) error {
	err := r.send(ctx, addr, nil, cb, false)
	if errors.Is(err, ErrMissingBody) {
		err = r.send(ctx, addr, nil, cb, true)
	}
	return err
}

// chunkBatch splits a batch into batches of about n records each, in
// modseq order, each following from the one before: records and
// tombstones up to its HighestModSeq, lineage cut there. A Reset batch
// is not split (it replaces the copy whole in one apply).
func chunkBatch(cb spool.ChangeBatch, n int) []spool.ChangeBatch {
	if cb.Reset || len(cb.Records) <= n {
		return []spool.ChangeBatch{cb}
	}
	recs := slices.Clone(cb.Records)
	slices.SortStableFunc(recs, func(a, b spool.Message) int { return cmpUint(a.ModSeq, b.ModSeq) })
	tombs := slices.Clone(cb.Expunged)
	slices.SortStableFunc(tombs, func(a, b spool.Tombstone) int { return cmpUint(a.ModSeq, b.ModSeq) })
	var out []spool.ChangeBatch
	since := cb.Since
	for len(recs) > 0 {
		end := min(n, len(recs))
		// Records of one modseq go together: the cut is between modseqs.
		for end < len(recs) && recs[end].ModSeq == recs[end-1].ModSeq {
			end++
		}
		upTo := recs[end-1].ModSeq
		if end == len(recs) {
			upTo = cb.HighestModSeq
		}
		part := cb
		part.Since, part.HighestModSeq = since, upTo
		part.Records = recs[:end]
		k := 0
		for k < len(tombs) && tombs[k].ModSeq <= upTo {
			k++
		}
		part.Expunged, tombs = tombs[:k], tombs[k:]
		part.Lineage = nil
		for _, e := range cb.Lineage {
			if e.ModSeq <= upTo {
				part.Lineage = append(part.Lineage, e)
			}
		}
		out = append(out, part)
		recs, since = recs[end:], upTo
	}
	return out
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// catchUpTarget sends what arrived during the bulk copy, in rounds, until
// a round has little left to send.
func (r *Replicator) catchUpTarget(ctx context.Context, target, addr string, id uint64) error {
	for round := 0; round < catchUpRounds; round++ {
		mine, err := r.store.ReplicaState(id)
		if err != nil {
			return err
		}
		known, _ := r.knownModSeq(copyKey{target, id})
		if mine.HighestModSeq-known <= moveChunk {
			return nil
		}
		if err := r.syncMailbox(ctx, target, addr, id, false, nil); err != nil {
			return fmt.Errorf("catch up %s: %w", target, err)
		}
	}
	return nil
}
