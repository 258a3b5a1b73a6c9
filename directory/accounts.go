package directory

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/rookery-mail/rookery/fsm"
)

// Mail domains and aliases on the cluster API, after a synced read.

// domains answers GET /v1/domains: every served domain.
func (s *apiServer) domains(w http.ResponseWriter, r *http.Request) {
	v, ok := s.syncedRead(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, v.Domains())
}

// aliases answers GET /v1/aliases[?user=NAME]: up to limit aliases, of
// one user when user is given.
func (s *apiServer) aliases(w http.ResponseWriter, r *http.Request) {
	limit, err := listLimit(r)
	if err != nil {
		writeError(w, err)
		return
	}
	v, ok := s.syncedRead(w, r)
	if !ok {
		return
	}
	user := r.URL.Query().Get("user")
	out := []*fsm.Alias{}
	v.Aliases(func(a *fsm.Alias) bool {
		if user == "" || a.User == user {
			out = append(out, a)
		}
		return len(out) < limit
	})
	writeJSON(w, http.StatusOK, out)
}

// Domains lists the served domains; none means every domain is served.
func (c *Client) Domains(ctx context.Context) ([]fsm.Domain, error) {
	var out []fsm.Domain
	err := c.call(ctx, http.MethodGet, "/v1/domains", nil, nil, &out)
	return out, err
}

// Aliases lists the aliases, of user alone when user is not "".
func (c *Client) Aliases(ctx context.Context, user string) ([]fsm.Alias, error) {
	var out []fsm.Alias
	path := "/v1/aliases?limit=" + strconv.Itoa(maxListLimit)
	if user != "" {
		path += "&user=" + url.QueryEscape(user)
	}
	err := c.call(ctx, http.MethodGet, path, nil, nil, &out)
	return out, err
}
