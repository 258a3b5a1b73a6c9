package checker

import (
	"testing"

	"github.com/rookery-mail/rookery/jepsen/history"
)

// owners adds one observation of node's mailboxes ("name#id").
func (b *hist) owners(node string, inv, comp int64, boxes ...history.Mailbox) *hist {
	return b.add(history.Op{Process: 100, F: history.FOwners, Node: node, Outcome: ok, Invoke: inv, Complete: comp,
		Value: history.Value{Mailboxes: boxes}})
}

func TestOwnership(t *testing.T) {
	a1 := history.Mailbox{Name: "a", ID: "1"}
	a2 := history.Mailbox{Name: "a", ID: "2"}
	cases := []struct {
		name string
		h    *hist
		want Validity
	}{
		{"moved after the source let go", new(hist).
			owners("b1", 0, 10, a1).owners("b1", 20, 30, a1).owners("b1", 40, 50).
			owners("b2", 35, 45, a1).owners("b2", 60, 70, a1), Valid},
		{"seen on a second backend while held", new(hist).
			owners("b1", 0, 10, a1).owners("b1", 50, 60, a1).owners("b2", 20, 30, a1), Invalid},
		{"two overlapping spans", new(hist).
			owners("b1", 0, 10, a1).owners("b1", 50, 60, a1).
			owners("b2", 5, 30, a1).owners("b2", 45, 90, a1), Invalid},
		{"recreated with a new id proves no span", new(hist).
			owners("b1", 0, 10, a1).owners("b1", 50, 60, a2).owners("b2", 20, 30, a1), Valid},
		{"a gap in observations breaks the span", new(hist).
			owners("b1", 0, 10, a1).owners("b1", 15, 18).owners("b1", 50, 60, a1).owners("b2", 20, 30, a1), Valid},
		{"overlapping points prove nothing", new(hist).
			owners("b1", 0, 30, a1).owners("b2", 10, 20, a1), Valid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Ownership{}.Check(tc.h.h)
			wantValidity(t, r, tc.want)
			if tc.want == Invalid {
				wantAnomaly(t, r, "two-owners")
			}
		})
	}
	wantValidity(t, Ownership{}.Check(new(hist).dir(0, create, "a", ok, "", 0, 1).h), Unknown)
}

// acked adds one observation of the epochs node acknowledged writes under.
func (b *hist) acked(node string, inv, comp int64, boxes ...history.Mailbox) *hist {
	return b.add(history.Op{Process: 101, F: history.FAcked, Node: node, Outcome: ok, Invoke: inv, Complete: comp,
		Value: history.Value{Mailboxes: boxes}})
}

func TestOwnershipAcknowledgingPrimaries(t *testing.T) {
	at := func(id string, epochs ...uint64) history.Mailbox { return history.Mailbox{ID: id, Epochs: epochs} }
	cases := []struct {
		name string
		h    *hist
		want Validity
	}{
		{"failover and failback", new(hist).
			acked("n1", 0, 10, at("7", 0)).acked("n2", 20, 30, at("7", 1)).acked("n1", 40, 50, at("7", 0, 2)), Valid},
		{"two primaries under one epoch", new(hist).
			acked("n1", 0, 10, at("7", 0)).acked("n2", 20, 30, at("7", 1, 0)), Invalid},
		{"one epoch, one mailbox each", new(hist).
			acked("n1", 0, 10, at("7", 3)).acked("n2", 0, 10, at("8", 3)), Valid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Ownership{}.Check(tc.h.h)
			wantValidity(t, r, tc.want)
			if tc.want == Invalid {
				wantAnomaly(t, r, "two-acknowledging-primaries")
			}
		})
	}
}
