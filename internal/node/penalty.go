package node

import (
	"encoding/json"
	"net/netip"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/imapfront"
)

// penaltyGossip tells the cluster's other frontends of this one's failed
// and successful logins, as gossip hints (directory.Node.Hint): no Raft write per failure, and
// a hint lost only weakens the penalty elsewhere.
type penaltyGossip struct{ dir *directory.Node }

func (p penaltyGossip) Publish(h imapfront.PenaltyHint) {
	b, err := json.Marshal(h)
	if err != nil {
		return
	}
	p.dir.Hint(directory.HintLoginPenalty, b)
}

// penaltyHint takes a failed-login hint from another node to this node's
// frontend. A hint whose address is no IP or whose user is no valid name
// is dropped: hints are advice from peers, and a malformed one advises
// nothing.
func (n *Node) penaltyHint(b []byte) {
	front := n.penaltyTo.Load()
	if front == nil {
		return
	}
	var h imapfront.PenaltyHint
	if json.Unmarshal(b, &h) != nil {
		return
	}
	if _, err := netip.ParseAddr(h.Addr); err != nil {
		return
	}
	if h.User != "" {
		u, err := fsm.CanonicalUser(h.User)
		if err != nil || u != h.User {
			return
		}
	}
	front.NotePenalty(h)
}
