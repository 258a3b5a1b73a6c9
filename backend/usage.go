package backend

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/rookery-mail/rookery/backend/quota"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/clusterapi"
)

// apiUsage answers a user's share on this backend, under its local copy
// of the directory once that has applied the caller's index (?index=):
// the mailboxes it names this backend primary for. So a mailbox the
// caller's view moved here (a failover, a move) is counted here.
func (b *Backend) apiUsage(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user")
	if u, err := fsm.CanonicalUser(user); err != nil || u != user {
		clusterapi.WriteError(w, apiCodes, fmt.Errorf("%w: user %q", fsm.ErrInvalidCommand, user))
		return
	}
	index, err := strconv.ParseUint(r.URL.Query().Get("index"), 10, 64)
	if err != nil {
		clusterapi.WriteError(w, apiCodes, fmt.Errorf("%w: index: %v", fsm.ErrInvalidCommand, err))
		return
	}
	if err := b.cfg.Directory.WaitApplied(r.Context(), index); err != nil {
		clusterapi.WriteError(w, apiCodes, fmt.Errorf("%w: %w", ErrDirectory, err))
		return
	}
	v, err := b.cfg.Directory.Read(r.Context(), directory.Local)
	if err != nil {
		clusterapi.WriteError(w, apiCodes, fmt.Errorf("%w: %w", ErrDirectory, err))
		return
	}
	u, err := b.quota.Share(v, user)
	if err != nil {
		clusterapi.WriteError(w, apiCodes, err)
		return
	}
	clusterapi.WriteJSON(w, http.StatusOK, u)
}

// UsageRemote reads users' shares on other backends through their nodes'
// cluster API (quota.Remote), with api: a node's client, TLS when the
// cluster runs it.
type UsageRemote struct{ API *clusterapi.Client }

var _ quota.Remote = UsageRemote{}

func (r UsageRemote) Share(ctx context.Context, be fsm.Backend, user string, index uint64) (quota.Usage, error) {
	var u quota.Usage
	path := fmt.Sprintf("/v1/backend/usage/%s?index=%d", url.PathEscape(user), index)
	err := r.API.With(apiCodes).Call(ctx, http.MethodGet, be.APIAddr, path, nil, nil, &u)
	return u, err
}
