// Package clusterapi is the frame of every node's cluster API: one HTTP
// mux behind the cluster secret, one error envelope with stable codes, and
// one client that sends the secret and turns error replies back into the
// sentinels they name. The roles (directory, backend, replication) mount
// their routes on the mux and declare their codes in a Table; nothing else
// builds an Authorization header or an error body by hand.
package clusterapi

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
)

// HealthPath is the one route that needs no credential.
const HealthPath = "/healthz"

// Bearer is the Authorization header value that carries secret.
func Bearer(secret string) string { return "Bearer " + secret }

// Mux is a node's cluster API: every route but HealthPath demands the
// cluster secret as a bearer token, compared in constant time.
type Mux struct {
	mux  *http.ServeMux
	want []byte
}

var _ http.Handler = (*Mux)(nil)

// NewMux returns a mux that admits callers holding secret.
func NewMux(secret string) *Mux {
	m := &Mux{mux: http.NewServeMux(), want: []byte(Bearer(secret))}
	m.mux.HandleFunc("GET "+HealthPath, func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return m
}

// Handle mounts h at pattern (a net/http pattern such as "POST /v1/apply").
func (m *Mux) Handle(pattern string, h http.Handler) { m.mux.Handle(pattern, h) }

// HandleFunc mounts f at pattern.
func (m *Mux) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	m.mux.HandleFunc(pattern, f)
}

// ServeHTTP authenticates the call and routes it.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != HealthPath && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), m.want) != 1 {
		writeReply(w, http.StatusUnauthorized, Reply{Code: CodeUnauthorized, Message: "the cluster secret is missing or wrong"})
		return
	}
	m.mux.ServeHTTP(w, r)
}

// Reply is the body of every failed call: a stable code a client can act
// on, and a message for a person.
type Reply struct {
	Code    string `json:"error_code"`
	Message string `json:"error"`
}

// Codes every role shares.
const (
	CodeUnauthorized = "unauthorized"
	CodeBadRequest   = "bad_request"
	CodeNotFound     = "not_found"
	CodeInternal     = "internal"
)

// Code is one error the API carries by name, with its HTTP status.
type Code struct {
	Name   string
	Err    error
	Status int
}

// Table lists the codes of a role; the first whose Err matches wins.
type Table []Code

// Of is the code of err: its entry in t, or CodeInternal with status 500.
func (t Table) Of(err error) Code {
	for _, c := range t {
		if errors.Is(err, c.Err) {
			return c
		}
	}
	return Code{Name: CodeInternal, Status: http.StatusInternalServerError}
}

// Sentinel is the error a code names, or nil when t does not know it.
func (t Table) Sentinel(name string) error {
	for _, c := range t {
		if c.Name == name {
			return c.Err
		}
	}
	return nil
}

// WriteError answers a call with err's code from t and err's text.
func WriteError(w http.ResponseWriter, t Table, err error) {
	c := t.Of(err)
	writeReply(w, c.Status, Reply{Code: c.Name, Message: err.Error()})
}

func writeReply(w http.ResponseWriter, status int, r Reply) { WriteJSON(w, status, r) }

// WriteJSON answers a call with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the caller may have gone; nothing to do
}

// DecodeJSON reads a request body of at most limit bytes into v.
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	return json.NewDecoder(http.MaxBytesReader(w, r.Body, limit)).Decode(v)
}
