package backend

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/rookery-mail/rookery/backend/quota"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/clusterapi"
)

// apiUsage answers a user's share on this backend, under its local copy
// of the directory: the mailboxes it names this backend primary for.
func (b *Backend) apiUsage(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user")
	if u, err := fsm.CanonicalUser(user); err != nil || u != user {
		clusterapi.WriteError(w, apiCodes, fmt.Errorf("%w: user %q", fsm.ErrInvalidCommand, user))
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

func (r UsageRemote) Share(ctx context.Context, be fsm.Backend, user string) (quota.Usage, error) {
	var u quota.Usage
	err := r.API.With(apiCodes).Call(ctx, http.MethodGet, be.APIAddr, "/v1/backend/usage/"+url.PathEscape(user), nil, nil, &u)
	return u, err
}
