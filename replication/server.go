package replication

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/clusterapi"
	"github.com/rookery-mail/rookery/spool"
)

// ServerConfig is what NewServer needs.
type ServerConfig struct {
	BackendID string
	Store     *spool.Store
	// Directory is read only: locally, and synced before the server
	// refuses a batch for a mailbox it does not know yet.
	Directory directory.Directory
	Logger    *slog.Logger
	// Floor serves floor calls (FloorRequest) on the mailbox's primary;
	// nil refuses them.
	Floor func(ctx context.Context, mailbox uint64, from string) error
}

func (c *ServerConfig) Validate() error {
	if c.BackendID == "" || c.Store == nil || c.Directory == nil {
		return fmt.Errorf("%w: BackendID, Store and Directory are required", ErrInvalidConfig)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Server is the replica side: it answers state and reserve calls and
// applies batches to the local store.
type Server struct {
	cfg ServerConfig
	log *slog.Logger
}

func NewServer(cfg ServerConfig) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, log: cfg.Logger.With("component", "replica_server", "backend", cfg.BackendID)}, nil
}

// Routes mounts the server with handle, such as (*directory.Node).Handle.
func (s *Server) Routes(handle func(pattern string, h http.Handler)) {
	handle("POST "+pathState, http.HandlerFunc(s.state))
	handle("POST "+pathReserve, http.HandlerFunc(s.reserve))
	handle("POST "+pathApply, http.HandlerFunc(s.apply))
	handle("GET "+pathBody+"{guid}", http.HandlerFunc(s.body))
	handle("GET "+pathRecords+"{id}", http.HandlerFunc(s.records))
	handle("DELETE "+pathCopies+"{id}", http.HandlerFunc(s.dropCopy))
	handle("POST "+pathFloor, http.HandlerFunc(s.floor))
}

// floor passes a FloorRequest to the backend, which must be the mailbox's
// primary.
func (s *Server) floor(w http.ResponseWriter, r *http.Request) {
	var req FloorRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || req.From == "" {
		writeError(w, fmt.Errorf("%w: floor request", ErrBadRequest))
		return
	}
	if s.cfg.Floor == nil {
		writeError(w, fmt.Errorf("%w: floor calls not served", ErrUnavailable))
		return
	}
	if err := s.cfg.Floor(r.Context(), req.Mailbox, req.From); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, struct{}{})
}

// dropCopy removes this backend's copy of a mailbox that was deleted or
// moved away (an aborted move's target, a replica a move dropped). The
// directory decides: a copy it still places here is kept (conflict).
func (s *Server) dropCopy(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, fmt.Errorf("%w: mailbox id", ErrBadRequest))
		return
	}
	f, err := s.cfg.Directory.Read(r.Context(), directory.Synced)
	if err != nil {
		writeError(w, fmt.Errorf("%w: directory: %v", ErrUnavailable, err))
		return
	}
	if m, ok := f.MailboxByID(id); ok {
		if _, here := f.CopyOn(m, s.cfg.BackendID); here {
			writeError(w, fmt.Errorf("%w: mailbox %d (%s) still has a copy here", ErrConflict, id, m.Name))
			return
		}
	}
	if err := s.cfg.Store.DeleteMailbox(id); err != nil && !errors.Is(err, spool.ErrNoMailbox) {
		writeError(w, err)
		return
	}
	s.log.Info("replica copy of a deleted mailbox removed", "mailbox_id", id)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) state(w http.ResponseWriter, r *http.Request) {
	var req StateRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<20)).Decode(&req); err != nil {
		writeError(w, fmt.Errorf("%w: %v", ErrBadRequest, err))
		return
	}
	resp := StateResponse{States: make([]spool.ReplicaState, 0, len(req.Mailboxes))}
	for _, id := range req.Mailboxes {
		st, err := s.cfg.Store.ReplicaState(id)
		if err != nil {
			writeError(w, err)
			return
		}
		resp.States = append(resp.States, st)
	}
	writeJSON(w, resp)
}

func (s *Server) reserve(w http.ResponseWriter, r *http.Request) {
	var req ReserveRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20)).Decode(&req); err != nil {
		writeError(w, fmt.Errorf("%w: %v", ErrBadRequest, err))
		return
	}
	have, err := s.cfg.Store.HasBodies(req.GUIDs)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, ReserveResponse{Have: have})
}

// apply reads the header, stores the bodies that follow it and applies
// the batch in one transaction.
func (s *Server) apply(w http.ResponseWriter, r *http.Request) {
	br := bufio.NewReaderSize(r.Body, 64<<10)
	h, err := readHeader(br)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.checkFence(r.Context(), h.Batch.Mailbox, h.Fence); err != nil {
		writeError(w, err)
		return
	}
	slot, err := s.slotOf(r.Context(), h.Batch.Mailbox)
	if err != nil {
		writeError(w, err)
		return
	}
	bodies := s.cfg.Store.NewBodyImport()
	defer bodies.Release()
	for _, b := range h.Bodies {
		if err := bodies.Add(r.Context(), b.GUID, io.LimitReader(br, b.Size)); err != nil {
			writeError(w, err)
			return
		}
	}
	if err := bodies.Sync(); err != nil {
		writeError(w, err)
		return
	}
	if err := s.cfg.Store.ApplyReplicated(h.Batch, slot); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func readHeader(r io.Reader) (applyHeader, error) {
	var h applyHeader
	var n uint32
	if err := binary.Read(r, binary.BigEndian, &n); err != nil {
		return h, fmt.Errorf("%w: header length: %v", ErrBadRequest, err)
	}
	if n > maxHeaderBytes {
		return h, fmt.Errorf("%w: header of %d bytes", ErrBadRequest, n)
	}
	if err := json.NewDecoder(io.LimitReader(r, int64(n))).Decode(&h); err != nil {
		return h, fmt.Errorf("%w: header: %v", ErrBadRequest, err)
	}
	for _, b := range h.Bodies {
		if b.Size < 0 {
			return h, fmt.Errorf("%w: body %s of size %d", ErrBadRequest, b.GUID, b.Size)
		}
	}
	return h, nil
}

// fenceWait bounds how long a replica waits for its directory copy to
// reach a fence's index before it refuses the batch as unavailable.
const fenceWait = 5 * time.Second

// checkFence refuses a batch sent under a placement the directory has
// left: the replica's copy, once it has applied the sender's index, must
// still name the sender primary at the fence's epoch. The check and the
// apply that follows are not one step: a placement that changes between
// them finds the change on this copy, which is what the sender's
// acknowledgement then rests on.
func (s *Server) checkFence(ctx context.Context, id uint64, f *Fence) error {
	if f == nil {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, fenceWait)
	err := s.cfg.Directory.WaitApplied(wctx, f.Index)
	cancel()
	if err != nil {
		return fmt.Errorf("%w: directory at index %d: %v", ErrUnavailable, f.Index, err)
	}
	v, err := s.cfg.Directory.Read(ctx, directory.Local)
	if err != nil {
		return fmt.Errorf("%w: directory: %v", ErrUnavailable, err)
	}
	m, ok := v.MailboxByID(id)
	switch {
	case !ok:
		return fmt.Errorf("%w: mailbox %d is gone", ErrStalePlacement, id)
	case m.Primary.Backend != f.Primary || m.Epoch != f.Epoch:
		return fmt.Errorf("%w: %s is on %s at epoch %d, not on %s at epoch %d",
			ErrStalePlacement, m.Name, m.Primary.Backend, m.Epoch, f.Primary, f.Epoch)
	}
	return nil
}

// slotOf is this backend's UID slot in mailbox id, which it must hold as a
// replica or as the target of a move: a backend that the directory has
// made primary refuses batches from its old primary.
func (s *Server) slotOf(ctx context.Context, id uint64) (uint32, error) {
	slot, _, err := directory.Find(ctx, s.cfg.Directory, directory.Local, func(v *fsm.View) (uint32, bool) {
		if m, ok := v.MailboxByID(id); ok && m.Primary.Backend != s.cfg.BackendID {
			return v.CopyOn(m, s.cfg.BackendID)
		}
		return 0, false
	})
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return 0, fmt.Errorf("%w: mailbox %d", ErrNotReplica, id)
	case err != nil:
		return 0, fmt.Errorf("%w: directory: %v", ErrUnavailable, err)
	}
	return slot, nil
}

func (s *Server) body(w http.ResponseWriter, r *http.Request) {
	f, err := s.cfg.Store.Body(r.PathValue("guid"))
	if err != nil {
		writeError(w, err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	io.Copy(w, f)
}

func (s *Server) records(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, fmt.Errorf("%w: mailbox id", ErrBadRequest))
		return
	}
	st, err := s.cfg.Store.ReplicaState(id)
	if err != nil {
		writeError(w, err)
		return
	}
	resp := RecordsResponse{State: st}
	if st.Exists {
		cb, err := s.cfg.Store.ChangesSince(id, 0, false)
		if err != nil {
			writeError(w, err)
			return
		}
		resp.Records = cb.Records
		for _, t := range cb.Expunged {
			resp.Expunged = append(resp.Expunged, t.UID)
		}
	}
	writeJSON(w, resp)
}

func writeJSON(w http.ResponseWriter, v any) { clusterapi.WriteJSON(w, http.StatusOK, v) }

// writeError is the one translation of store and protocol errors into
// replies; a sender never sees a Go error it has to parse. An error the
// table does not name is the replica failing: unavailable, try later.
func writeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, spool.ErrReplicaConflict):
		err = fmt.Errorf("%w: %v", ErrConflict, err)
	case errors.Is(err, spool.ErrMissingBody):
		err = fmt.Errorf("%w: %v", ErrMissingBody, err)
	case errors.Is(err, spool.ErrInvalidGUID), errors.Is(err, spool.ErrInvalidMeta), errors.Is(err, spool.ErrInvalidFlag),
		errors.Is(err, spool.ErrTooBig):
		err = fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if apiCodes.Of(err).Name == clusterapi.CodeInternal {
		err = fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	clusterapi.WriteError(w, apiCodes, err)
}
