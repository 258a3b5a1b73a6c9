package backend

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/clusterapi"
	"github.com/rookery-mail/rookery/internal/condstore"
	"github.com/rookery-mail/rookery/internal/multiappend"
)

// The backend's routes on its node's cluster API, which authenticates
// every call. Operators reach them through `rookery admin mailbox create`
// and `user add` (which creates the user's INBOX).
const (
	routeCreate = "POST /v1/backend/mailboxes"
	routeDelete = "DELETE /v1/backend/mailboxes/{name...}"
	// routeUsage answers a user's share on this backend (quota.Usage):
	// what its spool holds in their mailboxes it is primary for.
	routeUsage = "GET /v1/backend/usage/{user}"
)

// CreateRequest is the body of a create call: an internal mailbox name.
type CreateRequest struct {
	Name       string `json:"name"`
	SpecialUse string `json:"special_use,omitempty"`
	// Backend places the mailbox's primary on that backend, which must be
	// up: the receiving backend passes the request on to it. Empty: the
	// receiving backend.
	Backend string `json:"backend,omitempty"`
}

// Codes is the backend's table of cluster API error codes: the fsm's
// broken rules, another primary, and the directory away.
func Codes() clusterapi.Table {
	t := clusterapi.Table{
		{Name: "not_primary", Err: ErrNotPrimary, Status: http.StatusConflict},
		{Name: "unavailable", Err: ErrDirectory, Status: http.StatusServiceUnavailable},
	}
	return append(t, directory.FSMCodes()...)
}

// apiCodes is the table the backend's routes answer errors with, and
// CreateRemote decodes them with.
var apiCodes = Codes()

// Routes mounts the backend's routes with handle, such as
// (*directory.Node).Handle.
func (b *Backend) Routes(handle func(pattern string, h http.Handler)) {
	handle(routeCreate, http.HandlerFunc(b.apiCreate))
	handle(routeDelete, http.HandlerFunc(b.apiDelete))
	handle(routeUsage, http.HandlerFunc(b.apiUsage))
	handle(condstore.RouteRead, http.HandlerFunc(b.apiCondstoreRead))
	handle(condstore.RouteStore, http.HandlerFunc(b.apiCondstoreStore))
	handle(multiappend.Route, http.HandlerFunc(b.apiMultiAppend))
	b.repl.Routes(handle)
}

func (b *Backend) apiCreate(w http.ResponseWriter, r *http.Request) {
	var req CreateRequest
	if err := clusterapi.DecodeJSON(w, r, 4096, &req); err != nil {
		clusterapi.WriteError(w, apiCodes, fmt.Errorf("%w: %v", fsm.ErrInvalidCommand, err))
		return
	}
	var mb *fsm.Mailbox
	var err error
	if req.Backend != "" && req.Backend != b.cfg.ID {
		mb, err = b.createOn(r.Context(), req)
	} else {
		mb, err = b.Create(r.Context(), req.Name, req.SpecialUse)
	}
	if err != nil {
		clusterapi.WriteError(w, apiCodes, err)
		return
	}
	clusterapi.WriteJSON(w, http.StatusOK, mb)
}

// createOn passes a create placed on another backend to that backend's
// node, once: the request it sends names no backend.
func (b *Backend) createOn(ctx context.Context, req CreateRequest) (*fsm.Mailbox, error) {
	if err := fsm.ValidateName(req.Name); err != nil {
		return nil, err
	}
	v, err := b.cfg.Directory.Read(ctx, directory.Local)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	be, ok := v.Backend(req.Backend)
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: %q", fsm.ErrNoBackend, req.Backend)
	case be.State != fsm.BackendUp:
		return nil, fmt.Errorf("%w: %s is %s, not up", fsm.ErrNoBackend, be.ID, be.State)
	}
	return CreateRemote(ctx, b.api, be.APIAddr, CreateRequest{Name: req.Name, SpecialUse: req.SpecialUse})
}

func (b *Backend) apiDelete(w http.ResponseWriter, r *http.Request) {
	if err := b.Delete(r.Context(), r.PathValue("name")); err != nil {
		clusterapi.WriteError(w, apiCodes, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// CreateRemote asks the backend whose node's cluster API is at apiAddr to
// create a mailbox, as `rookery admin` does, through api (a node's or the
// admin's client: TLS when the cluster runs it). An fsm rule the create
// broke comes back as its sentinel (errors.Is(err, fsm.ErrNameExists)).
func CreateRemote(ctx context.Context, api *clusterapi.Client, apiAddr string, req CreateRequest) (*fsm.Mailbox, error) {
	var mb fsm.Mailbox
	if err := api.With(apiCodes).Call(ctx, http.MethodPost, apiAddr, "/v1/backend/mailboxes", nil, req, &mb); err != nil {
		return nil, err
	}
	return &mb, nil
}

// DeleteRemote asks the backend whose node's cluster API is at apiAddr,
// the mailbox's primary, to delete it (as IMAP DELETE does). A mailbox
// already gone, or already being deleted, is fsm.ErrNoMailbox.
func DeleteRemote(ctx context.Context, api *clusterapi.Client, apiAddr, name string) error {
	segs := strings.Split(name, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return api.With(apiCodes).Call(ctx, http.MethodDelete, apiAddr, "/v1/backend/mailboxes/"+strings.Join(segs, "/"), nil, nil, nil)
}
