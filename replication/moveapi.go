package replication

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
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
// the fsm error code instead. The move runs as long as the call: a caller
// that goes away aborts it.
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
		writeMoveError(w, http.StatusBadRequest, fsm.ErrInvalidCommand)
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
		writeMoveError(w, http.StatusServiceUnavailable, fmt.Errorf("%w: %w", ErrDirectory, err))
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
		writeMoveError(w, moveStatusOf(err), err)
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
	_, err = moveRemote(ctx, r.cfg.HTTPClient, be.APIAddr, r.cfg.ClusterSecret, req, report, true)
	return err
}

// moveStatusOf is the status of a move that could not begin.
func moveStatusOf(err error) int {
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

// writeMoveError sends the fsm error code when there is one, so the
// caller can turn it back into the sentinel; other errors are not
// detailed.
func writeMoveError(w http.ResponseWriter, status int, err error) {
	code := fsm.ErrorCode(err)
	msg := "backend unavailable"
	if code != fsm.CodeUnknown {
		msg = err.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(apiError{ErrorCode: code, Error: msg})
}

// MoveRemote asks the backend whose node's cluster API is at apiAddr (any
// backend: one that is not the mailbox's primary passes the call on) to
// move a mailbox, calling progress for each step it
// reports. It returns the last report: phase done, or an error. hc nil
// means http.DefaultClient; it must not time out the whole call, which
// lasts as long as the move.
func MoveRemote(ctx context.Context, hc *http.Client, apiAddr, secret string, req MoveRequest, progress func(MoveProgress)) (MoveProgress, error) {
	return moveRemote(ctx, hc, apiAddr, secret, req, progress, false)
}

func moveRemote(ctx context.Context, hc *http.Client, apiAddr, secret string, req MoveRequest, progress func(MoveProgress), forwarded bool) (MoveProgress, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	var last MoveProgress
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+apiAddr+"/v1/backend/moves", bytes.NewReader(body))
	if err != nil {
		return last, err
	}
	hr.Header.Set("Authorization", "Bearer "+secret)
	hr.Header.Set("Content-Type", "application/json")
	if forwarded {
		hr.Header.Set(hdrForwarded, "1")
	}
	resp, err := hc.Do(hr)
	if err != nil {
		return last, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return last, remoteError(resp, apiAddr)
	}
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

// remoteError turns an error reply of a backend route back into the fsm
// sentinel it carries, when it carries one.
func remoteError(resp *http.Response, apiAddr string) error {
	var e apiError
	json.NewDecoder(resp.Body).Decode(&e)
	if e.ErrorCode != "" && e.ErrorCode != fsm.CodeUnknown {
		return fmt.Errorf("%w (%s)", fsm.ErrorFromCode(e.ErrorCode), e.Error)
	}
	return fmt.Errorf("backend at %s: %s: %s", apiAddr, resp.Status, e.Error)
}

// RemoteMover moves a mailbox by asking its primary backend over the
// cluster API: what a frontend uses for RENAME with a server argument
// (imapfront.Config.Mover).
type RemoteMover struct {
	Directory directory.Directory
	Secret    string
	HTTP      *http.Client // nil: http.DefaultClient; must not time out a whole move
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
	_, err = MoveRemote(ctx, m.HTTP, be.APIAddr, m.Secret, MoveRequest{Name: name, Target: target}, nil)
	return err
}
