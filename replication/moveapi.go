package replication

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/clusterapi"
)

// The move route, served by the mailbox's primary backend on its node's
// cluster API: `rookery admin mailbox move` and `backend drain` call it,
// and so does the IMAP frontend for RENAME with a server argument.
//
//	POST /v1/backend/moves {"name": "user/alice/INBOX", "target": "b2"}
//
// The answer streams JSON lines (application/x-ndjson), one MoveProgress
// per step, the last with phase done or aborted. A move that cannot begin
// (not the primary, no such mailbox or backend) is an error status with
// its code instead (Codes: the fsm's, not_primary). The move runs as long
// as the call: a caller that goes away aborts it.
const routeMove = "POST /v1/backend/moves"

// MoveRequest is the body of a move call. An empty Target lets the
// primary pick one.
type MoveRequest struct {
	Name   string `json:"name"`
	Target string `json:"target,omitempty"`
}

func (r *Replicator) apiMove(w http.ResponseWriter, hr *http.Request) {
	var req MoveRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, hr.Body, 4096)).Decode(&req); err != nil {
		clusterapi.WriteError(w, apiCodes, fmt.Errorf("%w: %v", fsm.ErrInvalidCommand, err))
		return
	}
	var (
		mu      sync.Mutex
		started bool
	)
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	report := func(p MoveProgress) {
		mu.Lock()
		defer mu.Unlock()
		if !started {
			started = true
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
		}
		enc.Encode(p)
		if flusher != nil {
			flusher.Flush()
		}
	}
	v, err := r.dir.Read(hr.Context(), directory.Local)
	if err != nil {
		clusterapi.WriteError(w, apiCodes, fmt.Errorf("%w: %w", ErrDirectory, err))
		return
	}
	if m, ok := v.Mailbox(req.Name); ok && m.Primary.Backend != r.id && hr.Header.Get(hdrForwarded) == "" {
		err = r.forwardMove(hr.Context(), m, req, report)
	} else {
		_, err = r.Move(hr.Context(), req.Name, req.Target, report)
	}
	mu.Lock()
	defer mu.Unlock()
	if err != nil && !started {
		clusterapi.WriteError(w, apiCodes, err)
	}
}

// hdrForwarded marks a move call one backend passed on to the primary, so
// that two backends with different views of the directory cannot pass it
// back and forth.
const hdrForwarded = "X-Rookery-Forwarded"

// forwardMove passes a move call to the mailbox's primary and relays its
// progress, so that operators may ask any backend.
func (r *Replicator) forwardMove(ctx context.Context, m *fsm.Mailbox, req MoveRequest, report func(MoveProgress)) error {
	v, err := r.dir.Read(ctx, directory.Local)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	be, ok := v.Backend(m.Primary.Backend)
	if !ok || be.APIAddr == "" {
		return fmt.Errorf("%w: %s is on %s", ErrNotPrimary, m.Name, m.Primary.Backend)
	}
	_, err = moveRemote(ctx, r.client.api.WithoutTimeout(), be.APIAddr, req, report, true)
	return err
}

// MoveRemote asks the backend whose node's cluster API is at apiAddr (any
// backend: one that is not the mailbox's primary passes the call on) to
// move a mailbox through api, calling progress for each step it reports.
// It returns the last report: phase done, or an error. api must not time
// out the whole call, which lasts as long as the move
// (clusterapi.Client.WithoutTimeout).
func MoveRemote(ctx context.Context, api *clusterapi.Client, apiAddr string, req MoveRequest, progress func(MoveProgress)) (MoveProgress, error) {
	return moveRemote(ctx, api, apiAddr, req, progress, false)
}

func moveRemote(ctx context.Context, api *clusterapi.Client, apiAddr string, req MoveRequest, progress func(MoveProgress), forwarded bool) (MoveProgress, error) {
	var last MoveProgress
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, api.URL(apiAddr, "/v1/backend/moves"), bytes.NewReader(body))
	if err != nil {
		return last, err
	}
	hr.Header.Set("Content-Type", "application/json")
	if forwarded {
		hr.Header.Set(hdrForwarded, "1")
	}
	resp, err := api.With(apiCodes).Do(hr)
	if err != nil {
		return last, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			return last, fmt.Errorf("move progress from %s: %w", apiAddr, err)
		}
		if progress != nil {
			progress(last)
		}
	}
	if err := sc.Err(); err != nil {
		return last, fmt.Errorf("move progress from %s: %w", apiAddr, err)
	}
	switch last.Phase {
	case PhaseDone:
		return last, nil
	case PhaseAborted:
		if last.ErrorCode != "" && last.ErrorCode != fsm.CodeUnknown {
			return last, fmt.Errorf("move aborted: %w (%s)", fsm.ErrorFromCode(last.ErrorCode), last.Error)
		}
		return last, fmt.Errorf("move aborted: %s", last.Error)
	}
	return last, fmt.Errorf("move of %s: the backend at %s stopped reporting in phase %q", req.Name, apiAddr, last.Phase)
}

// RemoteMover moves a mailbox by asking its primary backend over the
// cluster API: what a frontend uses for RENAME with a server argument
// (imapfront.Config.Mover).
type RemoteMover struct {
	Directory directory.Directory
	// API calls the primary: it must not time out a whole move.
	API *clusterapi.Client
}

// Move moves mailbox name (internal form) to backend target.
func (m RemoteMover) Move(ctx context.Context, name, target string) error {
	f, err := m.Directory.Read(ctx, directory.Synced)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	mb, ok := f.Mailbox(name)
	if !ok {
		return fmt.Errorf("%w: %s", fsm.ErrNoMailbox, name)
	}
	if mb.Primary.Backend == target {
		return nil // there already
	}
	be, ok := f.Backend(mb.Primary.Backend)
	if !ok || be.APIAddr == "" {
		return fmt.Errorf("%w: primary %s of %s has no cluster API address", fsm.ErrNoBackend, mb.Primary.Backend, name)
	}
	_, err = MoveRemote(ctx, m.API, be.APIAddr, MoveRequest{Name: name, Target: target}, nil)
	return err
}
