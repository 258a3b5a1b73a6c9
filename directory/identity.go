package directory

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/rookery-mail/rookery/internal/clusterapi"
)

// Gossip says who a member is; with node TLS, the leader believes it only
// once the member has shown it over mutual TLS. Before any change to the
// Raft configuration for a member, or to a backend's record from a
// member's tags, the leader calls the member's cluster API at the address
// gossip gave, requires the peer certificate to name the member's node id
// (a node certificate's CommonName is its node id, see tlsutil.IssueNode),
// and asks the node for its own metadata, which must be what gossip says.
// Someone with the gossip key but not that node's certificate cannot make
// himself a voter, nor move a backend's IMAP or LMTP address.

// identityTimeout bounds one identity check.
const identityTimeout = 5 * time.Second

// selfReply is a node's own gossip metadata, from GET /v1/self.
type selfReply struct {
	NodeID string     `json:"node_id"`
	Meta   memberMeta `json:"meta"`
}

func (s *apiServer) self(w http.ResponseWriter, r *http.Request) {
	reply := selfReply{NodeID: s.n.cfg.NodeID}
	if d := s.n.gossipMeta; d != nil {
		if err := json.Unmarshal(d.NodeMeta(0), &reply.Meta); err != nil {
			writeError(w, fmt.Errorf("directory: own meta: %w", err))
			return
		}
	}
	writeJSON(w, http.StatusOK, reply)
}

// confirmIdentity checks that member m is the node holding m.id's node
// certificate and that it describes itself as gossip does. Without node
// TLS there is nothing to check against (Open warns of it).
func (n *Node) confirmIdentity(ctx context.Context, m member) error {
	if n.cfg.ClientTLS == nil {
		return nil
	}
	tc := n.cfg.ClientTLS.Clone()
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 || cs.PeerCertificates[0].Subject.CommonName != m.id {
			return fmt.Errorf("%w: the certificate at %s is not %s's", ErrIdentity, m.meta.APIAddr, m.id)
		}
		return nil
	}
	hc := &http.Client{Timeout: identityTimeout, Transport: clusterapi.Transport(n.cfg.dialer(identityTimeout), tc)}
	api := clusterapi.NewClient(n.cfg.ClusterSecret, hc, true, Codes())
	ctx, cancel := context.WithTimeout(ctx, identityTimeout)
	defer cancel()
	var self selfReply
	if err := api.Call(ctx, http.MethodGet, m.meta.APIAddr, "/v1/self", nil, nil, &self); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrIdentity, m.id, err)
	}
	if self.NodeID != m.id || !sameMeta(self.Meta, m.meta) {
		return fmt.Errorf("%w: %s describes itself as %s %+v, gossip as %+v", ErrIdentity, m.id, self.NodeID, self.Meta, m.meta)
	}
	return nil
}

// sameMeta compares what a change to the Raft configuration or a
// backend's record is made from (Leaving may change between the two looks).
func sameMeta(a, b memberMeta) bool {
	if a.RaftAddr != b.RaftAddr || a.APIAddr != b.APIAddr || !slices.Equal(a.Roles, b.Roles) || len(a.Tags) != len(b.Tags) {
		return false
	}
	for k, v := range a.Tags {
		if b.Tags[k] != v {
			return false
		}
	}
	return true
}
