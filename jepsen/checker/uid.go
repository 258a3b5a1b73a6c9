package checker

import (
	"fmt"
	"sort"

	"github.com/rookery-mail/rookery/jepsen/history"
)

// UID checks invariant 4 for each (mailbox, uidvalidity):
//   - a UID never names two different messages (told apart by Message-ID),
//     and in particular is never given again after an expunge;
//   - each client sees UIDs in strictly ascending order of arrival: a
//     message the client has not seen before never shows up below a UID the
//     client has already seen in a FETCH.
//
// It reads APPEND results (APPENDUID), FETCHes, EXPUNGEs and final reads.
// Message-IDs must be unique per APPEND or delivery.
type UID struct{}

var _ Checker = UID{}

// Name implements Checker.
func (UID) Name() string { return "uid" }

type uidSpace struct {
	mailbox     string
	uidvalidity uint32
}

type uidClaim struct {
	messageID string
	op        history.Op
}

// Check implements Checker.
func (c UID) Check(h history.History) Result {
	b := newBuilder(c.Name())
	seen := 0
	names := make(map[uidSpace]map[uint32]uidClaim)
	expunged := expungeTimes(h)
	for _, op := range sortedByInvoke(h) {
		for _, m := range observedMessages(op) {
			seen++
			sp := uidSpace{op.Key, op.Value.UIDValidity}
			if names[sp] == nil {
				names[sp] = make(map[uint32]uidClaim)
			}
			first, ok := names[sp][m.UID]
			if !ok {
				names[sp][m.UID] = uidClaim{m.MessageID, op}
				continue
			}
			if first.messageID == m.MessageID {
				continue
			}
			kind := "uid-conflict"
			if t, ok := expunged[sp][m.UID]; ok && t < op.Invoke {
				kind = "uid-reused"
			}
			b.anomaly(Anomaly{Kind: kind, Key: op.Key, Ops: []int{first.op.Index, op.Index},
				Detail: fmt.Sprintf("uidvalidity %d uid %d names %s and %s", sp.uidvalidity, m.UID, first.messageID, m.MessageID)})
		}
	}
	for _, ops := range h.ByProcess() {
		checkArrivalOrder(b, ops)
	}
	b.count("uids_observed", seen)
	return b.result(seen, "no UIDs observed")
}

// observedMessages lists the (UID, Message-ID) pairs an operation learned.
func observedMessages(op history.Op) []history.Message {
	if op.Outcome != history.OK {
		return nil
	}
	switch op.F {
	case history.FAppend:
		if op.Value.UID != 0 {
			return []history.Message{{UID: op.Value.UID, MessageID: op.Value.MessageID}}
		}
	case history.FFetch, history.FRead:
		return op.Value.Messages
	}
	return nil
}

// expungeTimes: for each UID, when an expunge of it first completed.
func expungeTimes(h history.History) map[uidSpace]map[uint32]int64 {
	out := make(map[uidSpace]map[uint32]int64)
	for _, op := range h {
		if op.F != history.FExpunge || op.Outcome != history.OK {
			continue
		}
		sp := uidSpace{op.Key, op.Value.UIDValidity}
		if out[sp] == nil {
			out[sp] = make(map[uint32]int64)
		}
		for _, u := range op.Value.UIDs {
			if t, ok := out[sp][u]; !ok || op.Complete < t {
				out[sp][u] = op.Complete
			}
		}
	}
	return out
}

// checkArrivalOrder walks one client's FETCHes in order. A FETCH shows the
// whole mailbox, so every UID it does not show was not there yet; a UID
// that appears later must therefore be above all the client knew. It is
// judged by UID, not by message: a message the client knew, shown again at
// a new UID below the highest it saw (a merge that renumbered it the wrong
// way), is as wrong for the client as a new message there.
func checkArrivalOrder(b *builder, ops history.History) {
	type known struct {
		uids   map[uint32]bool
		maxUID uint32
		maxOp  int
	}
	state := make(map[uidSpace]*known)
	for _, op := range ops {
		if op.F != history.FFetch || op.Outcome != history.OK {
			continue
		}
		sp := uidSpace{op.Key, op.Value.UIDValidity}
		k := state[sp]
		if k == nil {
			k = &known{uids: make(map[uint32]bool)}
			state[sp] = k
		}
		msgs := append([]history.Message(nil), op.Value.Messages...)
		sort.Slice(msgs, func(i, j int) bool { return msgs[i].UID < msgs[j].UID })
		prevMax := k.maxUID
		for _, m := range msgs {
			if !k.uids[m.UID] && m.UID <= prevMax {
				b.anomaly(Anomaly{Kind: "uid-below-known", Key: op.Key, Ops: []int{k.maxOp, op.Index},
					Detail: fmt.Sprintf("process %d: uid %d (%s) is new to it after it saw uid %d", op.Process, m.UID, m.MessageID, prevMax)})
			}
			k.uids[m.UID] = true
			if m.UID > k.maxUID {
				k.maxUID, k.maxOp = m.UID, op.Index
			}
		}
	}
}

func sortedByInvoke(h history.History) history.History {
	out := append(history.History(nil), h...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Invoke < out[j].Invoke })
	return out
}
