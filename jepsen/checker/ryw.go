package checker

import (
	"fmt"

	"github.com/rookery-mail/rookery/jepsen/history"
)

// ReadYourWrites checks invariant 3: on one connection, a SELECT after the
// connection's own successful CREATE finds the name, and a SELECT after its
// own successful DELETE does not, unless another client's DELETE or CREATE
// of that name could have come in between. A successful RENAME is a DELETE
// of its old name and a CREATE of its new one, and another client's RENAME
// from or to the name may come in between like a DELETE or a CREATE.
type ReadYourWrites struct{}

var _ Checker = ReadYourWrites{}

// Name implements Checker.
func (ReadYourWrites) Name() string { return "read-your-writes" }

// Check implements Checker.
func (c ReadYourWrites) Check(h history.History) Result {
	b := newBuilder(c.Name())
	checked := 0
	for _, ops := range h.ByProcess() {
		lastWrite := make(map[string]history.Op)
		// renamedAway: the name's last write was the connection's RENAME
		// of it to another name, under which the instance lives on.
		renamedAway := make(map[string]bool)
		// The instance (UIDVALIDITY) the connection last selected under a
		// name, and whether its own DELETE of it came since.
		seen := make(map[string]history.Op)
		for _, op := range ops {
			switch {
			case (op.F == history.FCreate || op.F == history.FDelete) && op.Outcome == history.OK:
				lastWrite[op.Key] = op
				renamedAway[op.Key] = false
				if op.F == history.FCreate {
					delete(seen, op.Key)
				}
			case op.F == history.FRename && op.Outcome == history.OK && renameTarget(op) != "":
				gone, made := op, op
				gone.F = history.FDelete
				made.F, made.Key = history.FCreate, renameTarget(op)
				lastWrite[gone.Key], lastWrite[made.Key] = gone, made
				renamedAway[gone.Key], renamedAway[made.Key] = true, false
				if s, ok := seen[gone.Key]; ok {
					seen[made.Key] = s // the instance keeps its UIDVALIDITY under its new name
				}
			case op.F == history.FSelect && (op.Outcome == history.OK || op.Error == history.ErrorNonexistent):
				w, ok := lastWrite[op.Key]
				if ok {
					checked++
					if a, bad := readOwnWrite(h, w, op, seen[op.Key], renamedAway[op.Key]); bad {
						b.anomaly(a)
					}
				}
				if op.Outcome == history.OK && op.Value.UIDValidity != 0 {
					seen[op.Key] = op
				}
			}
		}
	}
	b.count("selects_after_own_write", checked)
	return b.result(checked, "no SELECT followed a CREATE or DELETE on its own connection")
}

// readOwnWrite reports whether select s contradicts write w of the same
// connection. before is the connection's last SELECT of the name before
// s, if it saw an instance: after the connection's own DELETE, finding that
// same instance again (its UIDVALIDITY, which no new mailbox is given) is
// a resurrection whatever other clients did, while a new instance is
// another client's CREATE, which must have been able to come in between.
// When the connection's "delete" was its RENAME of the name away, the
// instance lives on under the new name, and another client's RENAME of it
// back (which must have been able to come in between) brings it here
// again: that is no resurrection.
func readOwnWrite(h history.History, w, s, before history.Op, renamedAway bool) (Anomaly, bool) {
	found := s.Outcome == history.OK
	wantFound := w.F == history.FCreate
	if found == wantFound {
		return Anomaly{}, false
	}
	if w.F == history.FDelete && before.Value.UIDValidity != 0 && before.Index < w.Index &&
		s.Value.UIDValidity == before.Value.UIDValidity && !(renamedAway && mayRenameOnto(h, w, s)) {
		return Anomaly{
			Kind: "resurrected-after-own-delete", Key: s.Key, Ops: []int{before.Index, w.Index, s.Index},
			Detail: fmt.Sprintf("process %d: select saw uidvalidity %d, delete ok via %s, then select found uidvalidity %d again via %s",
				s.Process, before.Value.UIDValidity, w.Node, s.Value.UIDValidity, s.Node),
		}, true
	}
	undo := history.FDelete
	if w.F == history.FDelete {
		undo = history.FCreate
	}
	if mayHappenBetween(h, undo, w, s) {
		return Anomaly{}, false
	}
	kind := "lost-own-create"
	if w.F == history.FDelete {
		kind = "resurrected-after-own-delete"
	}
	return Anomaly{
		Kind: kind, Key: s.Key, Ops: []int{w.Index, s.Index},
		Detail: fmt.Sprintf("process %d: %s ok via %s, then select %s via %s", s.Process, w.F, w.Node, s.Outcome, s.Node),
	}, true
}

// mayRenameOnto reports whether another RENAME onto the key of from could
// take effect after from took effect and before to did.
func mayRenameOnto(h history.History, from, to history.Op) bool {
	for _, op := range h {
		if op.Index == from.Index || op.Outcome == history.Fail || op.F != history.FRename || renameTarget(op) != from.Key {
			continue
		}
		if op.Complete >= from.Invoke && op.Invoke <= to.Complete {
			return true
		}
	}
	return false
}

// mayHappenBetween reports whether some operation f on the key of from could
// take effect after from took effect and before to did: it did not certainly
// fail, did not complete before from was invoked and was invoked before to
// completed.
func mayHappenBetween(h history.History, f string, from, to history.Op) bool {
	for _, op := range h {
		if op.Index == from.Index || op.Outcome == history.Fail || !hasEffect(op, f, from.Key) {
			continue
		}
		if op.Complete >= from.Invoke && op.Invoke <= to.Complete {
			return true
		}
	}
	return false
}

// hasEffect reports whether op, if it took effect, did f to key: a RENAME
// deletes its old name and creates its new one.
func hasEffect(op history.Op, f, key string) bool {
	switch {
	case op.F == f:
		return op.Key == key
	case op.F == history.FRename && f == history.FDelete:
		return op.Key == key
	case op.F == history.FRename && f == history.FCreate:
		return renameTarget(op) == key
	}
	return false
}
