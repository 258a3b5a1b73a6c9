package directory

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/clusterapi"
	"github.com/rookery-mail/rookery/logging"
)

// Bounds on the cluster API.
const (
	maxCommandBytes   = 1 << 20 // one encoded command
	handlerTimeout    = 30 * time.Second
	defaultListLimit  = 1000
	maxListLimit      = 100000
	forwardedHeader   = "Rookery-Forwarded" // set on a write a node forwards to the leader
	contentTypeBinary = "application/octet-stream"
)

// apiServer is the node's cluster API listener.
type apiServer struct {
	n    *Node
	mux  *clusterapi.Mux
	srv  *http.Server
	addr string // bound address
}

func (n *Node) openAPI() error {
	ln, err := net.Listen("tcp", n.cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("directory: cluster API listen: %w", err)
	}
	s := &apiServer{n: n, mux: clusterapi.NewMux(n.cfg.ClusterSecret), addr: ln.Addr().String()}
	if n.cfg.ServerTLS != nil {
		ln = tls.NewListener(ln, n.cfg.ServerTLS)
	}
	s.routes()
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          logging.StdLogger(n.log, "cluster_api", slog.LevelWarn),
	}
	n.api = s
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("cluster API stopped", "error", err)
		}
	}()
	return nil
}

func (s *apiServer) close() error { return s.srv.Close() }

func (s *apiServer) routes() {
	s.mux.HandleFunc("POST /v1/apply", s.apply)
	s.mux.HandleFunc("GET /v1/readindex", s.readIndex)
	s.mux.HandleFunc("GET /v1/status", s.status)
	s.mux.HandleFunc("GET /v1/self", s.self)
	s.mux.HandleFunc("GET /v1/cluster", s.cluster)
	s.mux.HandleFunc("GET /v1/mailboxes", s.mailboxes)
	s.mux.HandleFunc("GET /v1/mailboxes/{name...}", s.mailbox)
	s.mux.HandleFunc("GET /v1/users", s.users)
	s.mux.HandleFunc("GET /v1/domains", s.domains)
	s.mux.HandleFunc("GET /v1/aliases", s.aliases)
	s.mux.HandleFunc("POST /v1/bootstrap", s.bootstrap)
	s.mux.HandleFunc("POST /v1/nodes/{id}/remove", s.removeNode)
	s.mux.HandleFunc("GET /v1/snapshot", s.snapshotSave)
	s.mux.HandleFunc("POST /v1/snapshot/restore", s.snapshotRestore)
	s.mux.HandleFunc("POST /v1/members/join", s.membersJoin)
}

// Handle mounts h on the cluster API (behind the same authentication), for
// other roles' endpoints such as replication.
func (n *Node) Handle(pattern string, h http.Handler) { n.api.mux.Handle(pattern, h) }

// APIURL is the base URL of this node's cluster API: https:// when the
// node serves it in TLS.
func (n *Node) APIURL() string {
	if n.cfg.ServerTLS != nil {
		return "https://" + n.APIAddr()
	}
	return "http://" + n.APIAddr()
}

// APIAddr is the host:port other nodes reach this node's cluster API at:
// the advertised address when one is configured, else the bound one.
func (n *Node) APIAddr() string { return orBound(n.cfg.APIAdvertise, n.api.addr) }

// applyReply is the answer to POST /v1/apply: the fsm.Result, with its error
// as the fsm's stable code.
type applyReply struct {
	Index     uint64       `json:"index"`
	ErrorCode string       `json:"error_code,omitempty"`
	Error     string       `json:"error,omitempty"`
	Mailbox   *fsm.Mailbox `json:"mailbox,omitempty"`
	Count     int          `json:"count"`
}

func (s *apiServer) apply(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), handlerTimeout)
	defer cancel()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCommandBytes))
	if err != nil {
		writeError(w, fmt.Errorf("%w: reading command: %v", ErrBadRequest, err))
		return
	}
	// The FSM treats an undecodable entry as a bug, so nothing undecodable
	// may reach the log: decode here and log the canonical encoding.
	cmd, err := fsm.Decode(body)
	if err != nil {
		writeError(w, fmt.Errorf("%w: decoding command: %v", ErrBadRequest, err))
		return
	}
	data, err := fsm.Encode(cmd)
	if err != nil {
		writeError(w, fmt.Errorf("%w: encoding command: %v", ErrBadRequest, err))
		return
	}
	var res fsm.Result
	if r.Header.Get(forwardedHeader) != "" {
		res, err = s.n.applyLeader(ctx, data) // no second hop
	} else {
		res, err = s.n.applyEncoded(ctx, data)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	reply := applyReply{Index: res.Index, Mailbox: res.Mailbox, Count: res.Count}
	if res.Err != nil {
		reply.ErrorCode, reply.Error = fsm.ErrorCode(res.Err), res.Err.Error()
	}
	writeJSON(w, http.StatusOK, reply)
}

type readIndexReply struct {
	Index uint64 `json:"index"`
}

func (s *apiServer) readIndex(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), handlerTimeout)
	defer cancel()
	index, err := s.n.readIndex(ctx)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, readIndexReply{Index: index})
}

func (s *apiServer) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.n.Status())
}

func (s *apiServer) cluster(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), handlerTimeout)
	defer cancel()
	writeJSON(w, http.StatusOK, s.n.ClusterStatus(ctx))
}

// MailboxList is the answer to GET /v1/mailboxes.
type MailboxList struct {
	Mailboxes []*fsm.Mailbox `json:"mailboxes"`
	Truncated bool           `json:"truncated"` // more matched than the limit
}

func (s *apiServer) mailboxes(w http.ResponseWriter, r *http.Request) {
	limit, err := listLimit(r)
	if err != nil {
		writeError(w, err)
		return
	}
	v, ok := s.syncedRead(w, r)
	if !ok {
		return
	}
	list := MailboxList{Mailboxes: []*fsm.Mailbox{}}
	v.Mailboxes(r.URL.Query().Get("prefix"), func(mb *fsm.Mailbox) bool {
		if len(list.Mailboxes) == limit {
			list.Truncated = true
			return false
		}
		list.Mailboxes = append(list.Mailboxes, mb)
		return true
	})
	writeJSON(w, http.StatusOK, list)
}

func (s *apiServer) mailbox(w http.ResponseWriter, r *http.Request) {
	v, ok := s.syncedRead(w, r)
	if !ok {
		return
	}
	mb, ok := v.Mailbox(r.PathValue("name"))
	if !ok {
		writeError(w, fmt.Errorf("%w: %w", ErrNotFound, fsm.ErrNoMailbox))
		return
	}
	writeJSON(w, http.StatusOK, mb)
}

// UserInfo is a user as the cluster API shows it: never the password hash.
type UserInfo struct {
	Name       string `json:"name"`
	State      string `json:"state"`
	QuotaBytes int64  `json:"quota_bytes"`
	CreatedAt  int64  `json:"created_at"`
	Admin      bool   `json:"admin,omitempty"`
}

func (s *apiServer) users(w http.ResponseWriter, r *http.Request) {
	limit, err := listLimit(r)
	if err != nil {
		writeError(w, err)
		return
	}
	v, ok := s.syncedRead(w, r)
	if !ok {
		return
	}
	out := []UserInfo{}
	v.Users(func(u *fsm.User) bool {
		if len(out) == limit {
			return false
		}
		state := "active"
		if u.State == fsm.UserDisabled {
			state = "disabled"
		}
		out = append(out, UserInfo{Name: u.Name, State: state, QuotaBytes: u.QuotaBytes, CreatedAt: u.CreatedAt, Admin: u.Admin})
		return true
	})
	writeJSON(w, http.StatusOK, out)
}

func (s *apiServer) bootstrap(w http.ResponseWriter, r *http.Request) {
	if err := s.n.Bootstrap(r.Context()); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "bootstrapped"})
}

func (s *apiServer) removeNode(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), handlerTimeout)
	defer cancel()
	id := r.PathValue("id")
	var err error
	if r.Header.Get(forwardedHeader) != "" {
		err = s.n.removeServer(ctx, id)
	} else {
		err = s.n.RemoveNode(ctx, id)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "removed"})
}

// syncedRead is a Synced read for a handler; on failure it has written
// the error reply and returns false.
func (s *apiServer) syncedRead(w http.ResponseWriter, r *http.Request) (*fsm.View, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), handlerTimeout)
	defer cancel()
	v, err := s.n.Read(ctx, Synced)
	if err != nil {
		writeError(w, err)
		return nil, false
	}
	return v, true
}

func listLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return defaultListLimit, nil
	}
	limit, err := strconv.Atoi(v)
	if err != nil || limit < 1 || limit > maxListLimit {
		return 0, fmt.Errorf("%w: limit must be 1..%d", ErrBadRequest, maxListLimit)
	}
	return limit, nil
}

// apiCodes is the table every directory handler answers errors with.
var apiCodes = Codes()

func writeError(w http.ResponseWriter, err error) { clusterapi.WriteError(w, apiCodes, err) }

func writeJSON(w http.ResponseWriter, status int, v any) { clusterapi.WriteJSON(w, status, v) }
