package fsm

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
)

// A snapshot is a stream of typed records:
//
//	magic, version
//	header       applied index, counters, number of records of each kind
//	backend*     sorted by id
//	user*        sorted by name
//	mailbox*     sorted by name
//	subscription* sorted by user, then name
//	in-sync pair* sorted by primary, then replica (no count in the header:
//	              the kind came later, and the end record still guards it)
//	move*        sorted by mailbox id (no count in the header either)
//	domain*      sorted by name (no count in the header either)
//	alias*       sorted by address (likewise)
//	end
//
// Each record is a kind byte, a uvarint length and the payload, encoded as
// commands are (codec.go). The counts and the end record make a truncated
// stream an error instead of a smaller directory. Backends come first so
// that restored mailbox records share the backends' id strings.

const (
	snapshotMagic   = "RKYFSM\n"
	snapshotVersion = 1
	maxRecord       = 1 << 24
)

type recordKind byte

const (
	recHeader       recordKind = 1
	recBackend      recordKind = 2
	recUser         recordKind = 3
	recMailbox      recordKind = 4
	recSubscription recordKind = 5
	recInSync       recordKind = 6
	recMove         recordKind = 7
	recDomain       recordKind = 8
	recAlias        recordKind = 9
	recEnd          recordKind = 0xff
)

var _ raft.FSMSnapshot = (*snapshot)(nil)

// snapshot holds a published state; nothing writes to it, so Persist runs
// while Apply goes on.
type snapshot struct {
	st *View
}

// Snapshot captures the current state in O(1).
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	return &snapshot{st: f.cur.Load()}, nil
}

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	w := bufio.NewWriterSize(sink, 1<<20)
	err := writeState(w, s.st, s.st.applied)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("fsm: persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) Release() {}

// Restore replaces the whole state with the snapshot's. On error the state
// is unchanged.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	t, applied, err := readState(bufio.NewReaderSize(rc, 1<<20))
	if err != nil {
		return fmt.Errorf("fsm: restore snapshot: %w", err)
	}
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	f.work = t
	f.dirty = dirtyAll
	f.publishLocked(applied)
	return nil
}

// Digest is a SHA-256 over the state's records. Replicas with equal state
// have equal digests, whatever history led there; the applied index is
// left out.
func (f *FSM) Digest() [32]byte {
	h := sha256.New()
	w := bufio.NewWriterSize(h, 64<<10)
	// Writing to a hash cannot fail.
	_ = writeState(w, f.cur.Load(), 0)
	_ = w.Flush()
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

type recordWriter struct {
	w   *bufio.Writer
	e   encoder
	err error
}

func (rw *recordWriter) record(kind recordKind, payload func(e *encoder)) {
	if rw.err != nil {
		return
	}
	rw.e.buf = rw.e.buf[:0]
	payload(&rw.e)
	var hdr [1 + binary.MaxVarintLen64]byte
	hdr[0] = byte(kind)
	n := 1 + binary.PutUvarint(hdr[1:], uint64(len(rw.e.buf)))
	if _, err := rw.w.Write(hdr[:n]); err != nil {
		rw.err = err
		return
	}
	_, rw.err = rw.w.Write(rw.e.buf)
}

func writeState(w *bufio.Writer, st *View, applied uint64) error {
	if _, err := w.WriteString(snapshotMagic); err != nil {
		return err
	}
	if err := w.WriteByte(snapshotVersion); err != nil {
		return err
	}
	rw := &recordWriter{w: w, e: encoder{buf: make([]byte, 0, 512)}}
	rw.record(recHeader, func(e *encoder) {
		e.uint(applied)
		e.uint(st.nextID)
		e.uint(uint64(st.nextUIDValidity))
		e.uint(uint64(len(st.backends)))
		e.uint(uint64(st.users.Len()))
		e.uint(uint64(st.names.Len()))
		e.uint(uint64(st.subs.Len()))
	})
	for _, b := range st.backends {
		rw.record(recBackend, func(e *encoder) { appendBackend(e, b) })
	}
	st.users.Ascend(func(u *User) bool {
		rw.record(recUser, func(e *encoder) { appendUser(e, u) })
		return rw.err == nil
	})
	st.names.Ascend(func(n nameEntry) bool {
		rw.record(recMailbox, func(e *encoder) { appendMailbox(e, n.mb) })
		return rw.err == nil
	})
	st.subs.Ascend(func(s subscription) bool {
		rw.record(recSubscription, func(e *encoder) { e.string(s.user); e.string(s.name) })
		return rw.err == nil
	})
	for _, p := range st.inSync {
		rw.record(recInSync, func(e *encoder) { e.string(p.Primary); e.string(p.Replica) })
	}
	for _, mv := range st.moves {
		rw.record(recMove, func(e *encoder) { appendMove(e, mv) })
	}
	for _, d := range st.domains {
		rw.record(recDomain, func(e *encoder) { e.string(d.Name); e.byte(boolByte(d.Default)) })
	}
	st.aliases.Ascend(func(a *Alias) bool {
		rw.record(recAlias, func(e *encoder) { e.string(a.Address); e.string(a.User) })
		return rw.err == nil
	})
	rw.record(recEnd, func(*encoder) {})
	return rw.err
}

// snapshotHeader is what the header record says.
type snapshotHeader struct {
	applied, nextID                  uint64
	nextUIDValidity                  uint32
	backends, users, mailboxes, subs uint64
}

func readState(r *bufio.Reader) (*tables, uint64, error) {
	magic := make([]byte, len(snapshotMagic)+1)
	if _, err := io.ReadFull(r, magic); err != nil {
		return nil, 0, fmt.Errorf("read magic: %w", err)
	}
	if string(magic[:len(snapshotMagic)]) != snapshotMagic {
		return nil, 0, errors.New("not a directory snapshot")
	}
	if v := magic[len(snapshotMagic)]; v != snapshotVersion {
		return nil, 0, fmt.Errorf("snapshot version %d, want %d", v, snapshotVersion)
	}
	rr := &restorer{t: newTables(), intern: map[string]string{}}
	var buf []byte
	for {
		kind, payload, err := readRecord(r, &buf)
		if err != nil {
			return nil, 0, err
		}
		if kind == recEnd {
			break
		}
		if err := rr.add(kind, payload); err != nil {
			return nil, 0, err
		}
	}
	if err := rr.complete(); err != nil {
		return nil, 0, err
	}
	return rr.t, rr.hdr.applied, nil
}

func readRecord(r *bufio.Reader, buf *[]byte) (recordKind, []byte, error) {
	kind, err := r.ReadByte()
	if err != nil {
		return 0, nil, fmt.Errorf("read record: %w", noEOF(err))
	}
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, nil, fmt.Errorf("read record length: %w", noEOF(err))
	}
	if n > maxRecord {
		return 0, nil, fmt.Errorf("record of %d bytes", n)
	}
	if uint64(cap(*buf)) < n {
		*buf = make([]byte, n)
	}
	b := (*buf)[:n]
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, nil, fmt.Errorf("read record: %w", noEOF(err))
	}
	return recordKind(kind), b, nil
}

// noEOF reports a stream that ends before its end record as truncated.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
