package directory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/clusterapi"
)

// A backup of the directory is the FSM's own snapshot stream, taken after a
// synced read so that it holds every write committed before it was asked
// for. A restore hands such a stream to Raft on the leader, which installs
// it as the state of the whole cluster: every node's FSM is replaced, the
// Raft configuration is not (so a backup restores into a new cluster too).

// snapshotIndexHeader carries the applied index a backup was taken at.
const snapshotIndexHeader = "X-Rookery-Applied-Index"

// restoreTimeout bounds the leader's install of a restored snapshot.
const restoreTimeout = 5 * time.Minute

// RestoreSnapshot replaces the directory of the whole cluster with the
// backup read from r. Only the leader can; the backup is checked in full
// (format and every record) before anything is replaced.
func (n *Node) RestoreSnapshot(ctx context.Context, r io.Reader) error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	// Raft reads the stream twice over (install, then copy to the snapshot
	// store), and a check must read it whole first: spool it to a file.
	f, err := os.CreateTemp(n.cfg.DataDir, "restore-*.snap")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	size, err := io.Copy(f, r)
	if err != nil {
		return fmt.Errorf("%w: reading the backup: %v", ErrBadRequest, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := fsm.New().Restore(io.NopCloser(f)); err != nil {
		return fmt.Errorf("%w: not a directory backup: %v", ErrBadRequest, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: size}
	if err := n.raft.Restore(meta, f, restoreTimeout); err != nil {
		if errors.Is(err, raft.ErrNotLeader) {
			return fmt.Errorf("%w: %w", ErrNotLeader, err)
		}
		return fmt.Errorf("directory: restore: %w", err)
	}
	// The restored state names the index it was taken at, below the one
	// Raft installed it at. A command committed now brings every node's
	// applied index past the hole, so synced reads find a command to wait
	// for.
	_, err = n.Apply(ctx, fsm.Noop{})
	return err
}

// writerSink is a raft.SnapshotSink over any writer.
type writerSink struct {
	w   io.Writer
	err error
}

func (s *writerSink) Write(p []byte) (int, error) {
	k, err := s.w.Write(p)
	if err != nil && s.err == nil {
		s.err = err
	}
	return k, err
}
func (s *writerSink) Close() error  { return s.err }
func (s *writerSink) Cancel() error { return s.err }
func (s *writerSink) ID() string    { return "backup" }

func (s *apiServer) snapshotSave(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), handlerTimeout)
	defer cancel()
	if _, err := s.n.Read(ctx, Synced); err != nil {
		writeError(w, err)
		return
	}
	// The snapshot holds at least what was applied before it was taken.
	index := s.n.fsm.AppliedIndex()
	snap, err := s.n.fsm.Snapshot()
	if err != nil {
		writeError(w, err)
		return
	}
	defer snap.Release()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(snapshotIndexHeader, strconv.FormatUint(index, 10))
	// Past this point the status is sent: a failure shows as a stream the
	// client cannot decode, which it checks before it keeps the file.
	sink := &writerSink{w: w}
	if err := snap.Persist(sink); err != nil {
		s.n.log.Warn("directory backup failed", "error", err)
	}
}

func (s *apiServer) snapshotRestore(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), restoreTimeout)
	defer cancel()
	if err := s.n.RestoreSnapshot(ctx, r.Body); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "restored"})
}

// SaveSnapshot writes a backup of the directory, as the node holds it after
// a synced read, to w and returns the applied index it holds. The stream
// is checked by decoding it, so a backup that returns nil is whole.
func (c *Client) SaveSnapshot(ctx context.Context, w io.Writer) (uint64, error) {
	api := c.streamClient()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api.URL(c.addr, "/v1/snapshot"), nil)
	if err != nil {
		return 0, err
	}
	resp, err := api.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	index, _ := strconv.ParseUint(resp.Header.Get(snapshotIndexHeader), 10, 64)
	pr, pw := io.Pipe()
	check := make(chan error, 1)
	go func() { check <- fsm.New().Restore(pr) }()
	_, err = io.Copy(io.MultiWriter(w, pw), resp.Body)
	pw.CloseWithError(err)
	if cerr := <-check; err == nil && cerr != nil {
		err = fmt.Errorf("%w: the backup stream is damaged: %v", ErrRemote, cerr)
	}
	return index, err
}

// RestoreSnapshot replaces the directory of the whole cluster with the
// backup read from r, through the leader.
func (c *Client) RestoreSnapshot(ctx context.Context, r io.Reader) error {
	api := c.streamClient()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api.URL(c.addr, "/v1/snapshot/restore"), r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := api.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// streamClient is c's connection pool without the whole-call timeout:
// a backup of a large directory takes as long as it takes; the caller's
// context bounds it.
func (c *Client) streamClient() *clusterapi.Client {
	hc := *c.api.HTTP()
	hc.Timeout = 0
	return clusterapi.NewClient(c.secret, &hc, c.api.TLS(), Codes())
}
