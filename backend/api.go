package backend

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/rookery-mail/rookery/fsm"
)

// The backend's routes on its node's cluster API, which authenticates
// every call. Operators reach them through `rookery admin mailbox create`
// and `user add` (which creates the user's INBOX).
const (
	routeCreate = "POST /v1/backend/mailboxes"
	routeDelete = "DELETE /v1/backend/mailboxes/{name...}"
)

// CreateRequest is the body of a create call: an internal mailbox name.
type CreateRequest struct {
	Name       string `json:"name"`
	SpecialUse string `json:"special_use,omitempty"`
}

type apiError struct {
	ErrorCode string `json:"error_code"`
	Error     string `json:"error"`
}

// Routes mounts the backend's routes with handle, such as
// (*directory.Node).Handle.
func (b *Backend) Routes(handle func(pattern string, h http.Handler)) {
	handle(routeCreate, http.HandlerFunc(b.apiCreate))
	handle(routeDelete, http.HandlerFunc(b.apiDelete))
	b.repl.Routes(handle)
}

func (b *Backend) apiCreate(w http.ResponseWriter, r *http.Request) {
	var req CreateRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		writeAPIError(w, http.StatusBadRequest, fsm.ErrInvalidCommand)
		return
	}
	mb, err := b.Create(r.Context(), req.Name, req.SpecialUse)
	if err != nil {
		writeAPIError(w, statusOf(err), err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(mb)
}

func (b *Backend) apiDelete(w http.ResponseWriter, r *http.Request) {
	if err := b.Delete(r.Context(), r.PathValue("name")); err != nil {
		writeAPIError(w, statusOf(err), err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, fsm.ErrInvalidName), errors.Is(err, fsm.ErrInvalidCommand):
		return http.StatusBadRequest
	case errors.Is(err, fsm.ErrNameExists):
		return http.StatusConflict
	case errors.Is(err, fsm.ErrNoMailbox), errors.Is(err, fsm.ErrNoBackend):
		return http.StatusNotFound
	case errors.Is(err, ErrNotPrimary), errors.Is(err, fsm.ErrMailboxMoving), errors.Is(err, fsm.ErrNotActive):
		return http.StatusConflict
	}
	return http.StatusServiceUnavailable
}

// writeAPIError sends the fsm error code when there is one, so the caller
// can turn it back into the sentinel; other errors are not detailed.
func writeAPIError(w http.ResponseWriter, status int, err error) {
	code := fsm.ErrorCode(err)
	msg := "backend unavailable"
	if code != fsm.CodeUnknown {
		msg = err.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(apiError{ErrorCode: code, Error: msg})
}

// CreateRemote asks the backend whose node's cluster API is at apiAddr to
// create a mailbox, as `rookery admin` does, over hc (nil: a plain
// client; a cluster with node TLS needs one that presents a certificate).
// An fsm rule the create broke comes back as its sentinel
// (errors.Is(err, fsm.ErrNameExists)).
func CreateRemote(ctx context.Context, hc *http.Client, apiAddr, secret string, req CreateRequest) (*fsm.Mailbox, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+apiAddr+"/v1/backend/mailboxes", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Authorization", "Bearer "+secret)
	hr.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e apiError
		json.NewDecoder(resp.Body).Decode(&e)
		if sentinel := fsm.ErrorFromCode(e.ErrorCode); e.ErrorCode != "" && e.ErrorCode != fsm.CodeUnknown {
			return nil, fmt.Errorf("%w (%s)", sentinel, e.Error)
		}
		return nil, fmt.Errorf("backend at %s: %s: %s", apiAddr, resp.Status, e.Error)
	}
	var mb fsm.Mailbox
	if err := json.NewDecoder(resp.Body).Decode(&mb); err != nil {
		return nil, err
	}
	return &mb, nil
}
