package directory

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/hashicorp/memberlist"
)

// JoinMembers makes this node gossip with the nodes at addrs (their gossip
// addresses), as `join` in the config does at start: an operator's way to
// merge a node that started alone, or two halves that never met. It
// returns how many of addrs answered.
func (n *Node) JoinMembers(addrs []string) (int, error) {
	if len(addrs) == 0 {
		return 0, fmt.Errorf("%w: no addresses to join", ErrBadRequest)
	}
	k, err := n.join(addrs)
	if err != nil && k == 0 {
		return 0, fmt.Errorf("directory: join %v: %w", addrs, err)
	}
	return k, nil
}

// join gossips with the nodes at addrs and then with every member they
// told of. memberlist spreads a newcomer by gossip that each node sends on
// a few times only, which in a small cluster can die out before it
// reaches the leader; the leader, which adds a node to Raft only once it
// hears of it, would then wait for its next full state exchange, 15 to
// 30 s away. A state exchange with each member tells every one at once.
func (n *Node) join(addrs []string) (int, error) {
	k, err := n.gossip.Join(addrs)
	if k == 0 {
		return 0, err
	}
	asked := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		asked[a] = true
	}
	self := n.gossip.LocalNode().Name
	var rest []string
	for _, m := range n.gossip.Members() {
		if a := m.Address(); m.Name != self && m.State == memberlist.StateAlive && !asked[a] {
			rest = append(rest, a)
		}
	}
	if len(rest) > 0 {
		// In the background: a member that does not answer costs a TCP
		// timeout, which the node's start need not wait for. After Close
		// memberlist refuses at once.
		gossip, log := n.gossip, n.log
		go func() {
			if _, err := gossip.Join(rest); err != nil {
				log.Debug("gossip with the members the seeds told of failed", "members", rest, "error", err)
			}
		}()
	}
	return k, err
}

// BackendTag returns the gossip tag named tag of the alive member serving
// backend backendID: a listener of the backend that the directory does
// not record.
func (n *Node) BackendTag(backendID, tag string) (string, bool) {
	for _, m := range n.members.all() {
		if m.state == memberAlive && m.meta.Tags[TagBackendID] == backendID {
			v := m.meta.Tags[tag]
			return v, v != ""
		}
	}
	return "", false
}

// JoinRequest is the body of POST /v1/members/join.
type JoinRequest struct {
	Addrs []string `json:"addrs"`
}

// JoinReply is its answer.
type JoinReply struct {
	Joined int `json:"joined"`
}

func (s *apiServer) membersJoin(w http.ResponseWriter, r *http.Request) {
	var req JoinRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		writeError(w, fmt.Errorf("%w: %v", ErrBadRequest, err))
		return
	}
	k, err := s.n.JoinMembers(req.Addrs)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, JoinReply{Joined: k})
}

// JoinMembers asks the node to gossip with the nodes at addrs.
func (c *Client) JoinMembers(ctx context.Context, addrs []string) (int, error) {
	body, _ := json.Marshal(JoinRequest{Addrs: addrs})
	var reply JoinReply
	err := c.call(ctx, http.MethodPost, "/v1/members/join", body, nil, &reply)
	return reply.Joined, err
}
