package spool

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// Message files live at messages/ab/<guid>, in one of 256 directories made
// when the store is opened, so that storing a message never has to create
// (and sync) a directory. They are written once, under a temporary name in
// tmp/, and renamed into place only when durable.
const (
	messagesDir = "messages"
	tmpDir      = "tmp"
	indexFile   = "index.db"
)

// fsError classifies a file-system or index failure: ENOSPC is ErrDiskFull,
// which the protocol servers report as temporary; anything else is ErrIO.
func fsError(what string, err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w: %s: %w", ErrDiskFull, what, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrIO, what, err)
}

func validGUID(guid string) bool {
	if len(guid) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(guid)
	return err == nil
}

func guidKey(guid string) []byte {
	b, _ := hex.DecodeString(guid)
	return b
}

func (s *Store) bodyPath(guid string) string {
	return filepath.Join(s.dir, messagesDir, guid[0:2], guid)
}

// makeBodyDirs creates the 256 message directories that are missing and
// makes them durable.
func makeBodyDirs(dir string) error {
	root := filepath.Join(dir, messagesDir)
	made := false
	for i := range 256 {
		err := os.Mkdir(filepath.Join(root, fmt.Sprintf("%02x", i)), 0o700)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return fsError("create message directory", err)
		}
		made = true
	}
	if !made {
		return nil
	}
	return syncPaths([]string{root})
}

// Body opens the body of guid for reading: its file, or its copy out of
// the index for a small one (inline.go).
func (s *Store) Body(guid string) (BodyReader, error) {
	if !validGUID(guid) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidGUID, guid)
	}
	if s.isClosed() {
		return nil, ErrClosed
	}
	f, err := s.openBody(nil, guid)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: body %s", ErrNoMessage, guid)
	}
	if err != nil {
		return nil, fsError("open body", err)
	}
	return f, nil
}

// writtenBody is a durable message file, or a small body staged for the
// commit (inline.go), pinned against removal until its index records are
// committed (see unpin).
type writtenBody struct {
	guid string
	size int64
}

// writeBody stores r: a body of up to inlineMax bytes is staged for the
// commit that refers to it, a larger one becomes a message file. The GUID
// is pinned on return; the caller unpins it once the index commit is
// done.
func (s *Store) writeBody(ctx context.Context, r io.Reader) (writtenBody, error) {
	limit := min(s.maxSize, inlineMax)
	head, err := io.ReadAll(io.LimitReader(ctxReader{ctx, r}, limit+1))
	if err != nil {
		return writtenBody{}, fmt.Errorf("spool: reading message body: %w", err)
	}
	if int64(len(head)) <= limit {
		sum := sha256.Sum256(head)
		wb := writtenBody{guid: hex.EncodeToString(sum[:]), size: int64(len(head))}
		if s.stage(wb.guid, head) {
			return wb, nil
		}
	}
	return s.writeBodyFile(ctx, io.MultiReader(bytes.NewReader(head), r))
}

// writeBodyFile stores r as a message file: it streams r into a temp file
// while hashing it and, unless a file with that GUID already exists,
// renames it into place; then it makes the file and its name durable.
func (s *Store) writeBodyFile(ctx context.Context, r io.Reader) (writtenBody, error) {
	tmp, err := os.CreateTemp(filepath.Join(s.dir, tmpDir), "body-*")
	if err != nil {
		return writtenBody{}, fsError("create temp body", err)
	}
	placed := false
	defer func() {
		tmp.Close()
		if !placed {
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	w := &fileWriter{f: tmp}
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(ctxReader{ctx, r}, s.maxSize+1))
	if w.err != nil {
		return writtenBody{}, fsError("write body", w.err)
	}
	if err != nil {
		return writtenBody{}, fmt.Errorf("spool: reading message body: %w", err)
	}
	if n > s.maxSize {
		return writtenBody{}, fmt.Errorf("%w: over %d bytes", ErrTooBig, s.maxSize)
	}
	wb := writtenBody{guid: hex.EncodeToString(h.Sum(nil)), size: n}
	s.pin(wb.guid)
	placed, err = s.placeBody(tmp, wb)
	if err != nil {
		s.unpin(wb.guid)
		return writtenBody{}, err
	}
	return wb, nil
}

// placeBody puts tmp in place as the file of wb and makes it durable;
// renamed says whether tmp's name is gone (the caller removes it if not).
// The rename comes before the fsyncs, so that the file's journal commit
// carries the rename and the directory's fsync finds little left to do; a
// crash in between leaves a file no record names, which Open removes.
// A file already in place was renamed whole, but its writer may still be
// syncing it: unless the index holds it (so it was durable), sync it too.
func (s *Store) placeBody(tmp *os.File, wb writtenBody) (renamed bool, err error) {
	final := s.bodyPath(wb.guid)
	if fi, err := os.Stat(final); err == nil && fi.Size() == wb.size {
		var known bool
		if err := s.view(func(tx *bolt.Tx) error { known = hasBody(tx, wb.guid); return nil }); err != nil {
			return false, err
		}
		if known {
			return false, nil
		}
		return false, syncPaths([]string{final, filepath.Dir(final)})
	}
	err = os.Rename(tmp.Name(), final)
	if errors.Is(err, fs.ErrNotExist) {
		// Its directory went missing since Open: make it again.
		if err = makeBodyDirs(s.dir); err == nil {
			err = os.Rename(tmp.Name(), final)
		}
	}
	if err != nil {
		return false, fsError("rename body", err)
	}
	if err := tmp.Sync(); err != nil {
		return true, fsError("sync", err)
	}
	if err := tmp.Close(); err != nil {
		return true, fsError("close body", err)
	}
	return true, syncPath(filepath.Dir(final))
}

// maxSyncers bounds the fsyncs in flight at once (each holds a thread).
const maxSyncers = 32

// syncPaths fsyncs paths (files and directories) concurrently, so that
// the file system can merge them into few journal commits, and returns the
// first failure.
func syncPaths(paths []string) error {
	errs := make(chan error, len(paths))
	sem := make(chan struct{}, maxSyncers)
	var wg sync.WaitGroup
	for _, p := range paths {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			errs <- syncPath(p)
			<-sem
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fsError("open for sync", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fsError("sync", err)
	}
	return nil
}

func (s *Store) pin(guid string) {
	s.pinMu.Lock()
	s.pins[guid]++
	s.pinMu.Unlock()
}

// unpin drops a pin; at the last one, a staged body is let go, and a body
// that removeUnreferenced found unreferenced but pinned is removed now.
func (s *Store) unpin(guid string) {
	s.pinMu.Lock()
	recheck := false
	if s.pins[guid]--; s.pins[guid] <= 0 {
		delete(s.pins, guid)
		s.stagedBytes -= int64(len(s.staged[guid]))
		delete(s.staged, guid)
		recheck = s.recheck[guid]
		delete(s.recheck, guid)
	}
	s.pinMu.Unlock()
	if recheck {
		s.removeUnreferenced([]string{guid})
	}
}

// Retain keeps body guid (its file or inline copy), if it is still kept,
// until release is called, even if its last reference goes meanwhile: a
// session can then still serve a message whose expunge its client has not
// yet been told of. Called from a Watch callback for an expunge, it keeps
// the body (a commit keeps the bodies it dropped pinned until after the
// callbacks). release removes a body that has lost its last reference; a
// retained body outlives no restart (Open removes bodies the index does
// not refer to).
func (s *Store) Retain(guid string) (release func()) {
	s.pin(guid)
	var once sync.Once
	return func() {
		once.Do(func() {
			s.unpin(guid)
			s.removeUnreferenced([]string{guid})
		})
	}
}

// removeUnreferenced deletes the files of guids that no record refers to
// and no writer has pinned, and queues their inline copies for the next
// commit (collectGarbage); a pinned one is looked at again at its last
// unpin. It holds pinMu from the index read to the
// removal: a writer pins a body before it looks for its file, so either the
// writer pinned first and the file stays, or it finds the file gone and
// writes it again.
func (s *Store) removeUnreferenced(guids []string) {
	if len(guids) == 0 {
		return
	}
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	var gone []string
	err := s.viewIndex(func(tx *bolt.Tx) error {
		for _, g := range guids {
			switch {
			case hasBody(tx, g):
			case s.pins[g] > 0:
				s.recheck[g] = true
			default:
				gone = append(gone, g)
			}
		}
		return nil
	})
	if errors.Is(err, ErrClosed) {
		return // the next Open removes them
	}
	if err != nil {
		s.log.Error("spool: checking unreferenced bodies", "err", err)
		return
	}
	// An inline body goes at the next commit; a file now.
	s.queueGarbageLocked(gone)
	for _, g := range gone {
		if err := os.Remove(s.bodyPath(g)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("spool: removing unreferenced body", "guid", g, "err", err)
		}
	}
}

// clearTmp removes temp files a crash left behind.
func (s *Store) clearTmp() error {
	dir := filepath.Join(s.dir, tmpDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fsError("read temp directory", err)
	}
	for _, e := range entries {
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return fsError("remove temp file", err)
		}
	}
	return nil
}

// removeOrphans deletes message files the index does not refer to: a crash
// between a file's rename and its index commit leaves one, and the message
// was never acknowledged. A file the index refers to but that lies
// elsewhere under messages/ (where an older layout put it) is moved to
// where it belongs.
func (s *Store) removeOrphans() error {
	var orphans, misplaced []string
	root := filepath.Join(s.dir, messagesDir)
	err := s.db.View(func(tx *bolt.Tx) error {
		bodies := tx.Bucket(bucketBodies)
		return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			switch name := d.Name(); {
			case !validGUID(name) || bodies.Get(guidKey(name)) == nil:
				orphans = append(orphans, path)
			case path != s.bodyPath(name):
				misplaced = append(misplaced, path)
			}
			return nil
		})
	})
	if err != nil {
		return fsError("scan message files", err)
	}
	for _, p := range orphans {
		if err := os.Remove(p); err != nil {
			return fsError("remove orphan body", err)
		}
	}
	if len(orphans) > 0 {
		s.log.Info("spool: removed unreferenced message files", "count", len(orphans))
	}
	var synced []string
	for _, p := range misplaced {
		final := s.bodyPath(filepath.Base(p))
		if err := os.Rename(p, final); err != nil {
			return fsError("move message file", err)
		}
		synced = append(synced, filepath.Dir(p), filepath.Dir(final))
	}
	if len(misplaced) > 0 {
		slices.Sort(synced)
		if err := syncPaths(slices.Compact(synced)); err != nil {
			return err
		}
		s.log.Info("spool: moved message files to the current layout", "count", len(misplaced))
	}
	return nil
}

// ctxReader stops a body read when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// fileWriter remembers a write error, so that a failing disk is told apart
// from a failing sender.
type fileWriter struct {
	f   *os.File
	err error
}

func (w *fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}
