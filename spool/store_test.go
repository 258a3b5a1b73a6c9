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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	bolt "go.etcd.io/bbolt"
)

func openStore(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(Options{Dir: dir, MaxMessageBytes: 1 << 20})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustCreate(t testing.TB, s *Store, id uint64, stride, slot uint32) {
	t.Helper()
	if err := s.CreateMailbox(MailboxMeta{ID: id, UIDValidity: 7, Stride: stride, Slot: slot}); err != nil {
		t.Fatalf("create mailbox %d: %v", id, err)
	}
}

func testBody(n int) string {
	return fmt.Sprintf("From: a@example.org\r\nTo: b@example.org\r\nSubject: test %d\r\n"+
		"Message-Id: <%d@example.org>\r\nContent-Type: text/plain\r\n\r\nbody %d\r\nline two\r\n", n, n, n)
}

func mustAppend(t testing.TB, s *Store, id uint64, body string, flags ...imap.Flag) Message {
	t.Helper()
	m, err := s.Append(context.Background(), AppendRequest{Mailbox: id, Flags: flags, Body: strings.NewReader(body)})
	if err != nil {
		t.Fatalf("append to %d: %v", id, err)
	}
	return m
}

func mustVerify(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Verify(); err != nil {
		t.Fatalf("verify: %v", err)
	}
}

func uidsOf(ms []Message) []uint32 {
	var out []uint32
	for _, m := range ms {
		out = append(out, m.UID)
	}
	return out
}

func TestNextUID(t *testing.T) {
	cases := []struct {
		stride, slot, maxSeen, want uint32
	}{
		{1, 0, 0, 1},
		{1, 0, 41, 42},
		{2, 0, 0, 2},
		{2, 1, 0, 1},
		{2, 0, 2, 4},
		{2, 0, 3, 4},
		{2, 1, 1, 3},
		{2, 1, 4, 5},
		{3, 2, 2, 5},
		{3, 0, 5, 6},
	}
	for _, c := range cases {
		m := mailboxMeta{MailboxMeta: MailboxMeta{Stride: c.stride, Slot: c.slot}, MaxSeenUID: c.maxSeen}
		got, err := m.nextUID()
		if err != nil || got != c.want {
			t.Errorf("stride %d slot %d after %d: got %d, %v; want %d", c.stride, c.slot, c.maxSeen, got, err, c.want)
		}
	}
	m := mailboxMeta{MailboxMeta: MailboxMeta{Stride: 2, Slot: 1}, MaxSeenUID: 0xFFFFFFFF}
	if _, err := m.nextUID(); !errors.Is(err, ErrUIDsExhausted) {
		t.Errorf("exhausted mailbox: got %v", err)
	}
}

// Two backends holding slots 0 and 1 of one mailbox, appending without
// talking to each other, never give one UID to two messages.
func TestSlotsNeverCollide(t *testing.T) {
	s0, s1 := openStore(t, t.TempDir()), openStore(t, t.TempDir())
	mustCreate(t, s0, 5, 2, 0)
	mustCreate(t, s1, 5, 2, 1)
	seen := make(map[uint32]string)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, s := range []*Store{s0, s1} {
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; n < 10; n++ {
					body := testBody(i*1000 + w*100 + n)
					m, err := s.Append(context.Background(), AppendRequest{Mailbox: 5, Body: strings.NewReader(body)})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if prev, dup := seen[m.UID]; dup {
						t.Errorf("uid %d given twice (%s and %s)", m.UID, prev, m.GUID)
					}
					seen[m.UID] = m.GUID
					mu.Unlock()
					if m.UID%2 != uint32(i) {
						t.Errorf("store with slot %d gave uid %d", i, m.UID)
					}
				}
			}()
		}
	}
	wg.Wait()
	if len(seen) != 80 {
		t.Fatalf("got %d distinct uids, want 80", len(seen))
	}
	for _, s := range []*Store{s0, s1} {
		ms, _ := s.Messages(5)
		if !slices.IsSorted(uidsOf(ms)) || len(ms) != 40 {
			t.Fatalf("messages out of order or missing: %v", uidsOf(ms))
		}
		mustVerify(t, s)
	}
}

func TestCreateMailbox(t *testing.T) {
	s := openStore(t, t.TempDir())
	meta := MailboxMeta{ID: 1, UIDValidity: 9, Stride: 2, Slot: 1}
	if err := s.CreateMailbox(meta); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateMailbox(meta); err != nil {
		t.Fatalf("identical create should succeed: %v", err)
	}
	other := meta
	other.UIDValidity = 10
	if err := s.CreateMailbox(other); !errors.Is(err, ErrMailboxExists) {
		t.Fatalf("create with other meta: got %v", err)
	}
	for _, bad := range []MailboxMeta{{ID: 2, UIDValidity: 1}, {ID: 2, UIDValidity: 1, Stride: 2, Slot: 2}, {ID: 2, Stride: 1}} {
		if err := s.CreateMailbox(bad); !errors.Is(err, ErrInvalidMeta) {
			t.Errorf("create %+v: got %v", bad, err)
		}
	}
	list, err := s.Mailboxes()
	if err != nil || len(list) != 1 || list[0] != meta {
		t.Fatalf("mailboxes: %v %v", list, err)
	}
	st, err := s.Status(1)
	if err != nil || st.UIDNext != 1 || st.UIDValidity != 9 || st.Messages != 0 {
		t.Fatalf("status: %+v %v", st, err)
	}
	if _, err := s.Status(2); !errors.Is(err, ErrNoMailbox) {
		t.Fatalf("status of missing mailbox: %v", err)
	}
}

func TestAppendFlagsExpunge(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustCreate(t, s, 1, 1, 0)
	st0, _ := s.Status(1)
	a := mustAppend(t, s, 1, testBody(1), `\seen`, "$Label", `\SEEN`)
	b := mustAppend(t, s, 1, testBody(2))
	if a.UID != 1 || b.UID != 2 {
		t.Fatalf("uids %d %d", a.UID, b.UID)
	}
	if !slices.Equal(a.Flags, []imap.Flag{imap.FlagSeen, "$Label"}) {
		t.Fatalf("flags not canonical: %v", a.Flags)
	}
	if a.ModSeq <= st0.HighestModSeq || b.ModSeq <= a.ModSeq {
		t.Fatalf("modseq did not grow: %d %d %d", st0.HighestModSeq, a.ModSeq, b.ModSeq)
	}
	st, _ := s.Status(1)
	if st.Messages != 2 || st.Unseen != 1 || st.UIDNext != 3 || st.HighestModSeq != b.ModSeq || st.Size != a.Size+b.Size {
		t.Fatalf("status %+v", st)
	}
	if _, err := s.Append(context.Background(), AppendRequest{Mailbox: 1, Flags: []imap.Flag{`\Recent`}, Body: strings.NewReader("x")}); !errors.Is(err, ErrInvalidFlag) {
		t.Fatalf("append with \\Recent: %v", err)
	}

	upd, failed, err := s.StoreFlags(1, []uint32{1, 2, 99}, FlagsAdd, []imap.Flag{imap.FlagDeleted}, 0)
	if err != nil || len(failed) != 0 || len(upd) != 2 {
		t.Fatalf("store +deleted: %v %v %v", upd, failed, err)
	}
	// CONDSTORE: message 2 changed since b.ModSeq, so it fails.
	upd, failed, err = s.StoreFlags(1, []uint32{1, 2}, FlagsDel, []imap.Flag{imap.FlagDeleted}, upd[0].ModSeq-1)
	if err != nil || !slices.Equal(failed, []uint32{1, 2}) || len(upd) != 0 {
		t.Fatalf("conditional store: %v %v %v", upd, failed, err)
	}
	upd, _, _ = s.StoreFlags(1, []uint32{1}, FlagsDel, []imap.Flag{imap.FlagDeleted, imap.FlagSeen}, 0)
	if len(upd) != 1 || !slices.Equal(upd[0].Flags, []imap.Flag{"$Label"}) {
		t.Fatalf("store -flags: %v", upd)
	}
	if st, _ := s.Status(1); st.Unseen != 2 || st.HighestModSeq != upd[0].ModSeq {
		t.Fatalf("status after -seen: %+v", st)
	}
	gone, err := s.Expunge(1, nil)
	if err != nil || !slices.Equal(gone, []uint32{2}) {
		t.Fatalf("expunge: %v %v", gone, err)
	}
	if _, err := s.Message(1, 2); !errors.Is(err, ErrNoMessage) {
		t.Fatalf("expunged message still there: %v", err)
	}
	waitFor(t, "the body of the expunged message to go", func() bool { return !bodyKept(t, s, b.GUID) })
	if gone, _ := s.Expunge(1, []uint32{1}); len(gone) != 0 {
		t.Fatalf("expunged a message without \\Deleted: %v", gone)
	}
	c := mustAppend(t, s, 1, testBody(3))
	if c.UID != 3 {
		t.Fatalf("uid reused after expunge: %d", c.UID)
	}
	mustVerify(t, s)
}

func TestCopyMove(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustCreate(t, s, 1, 2, 0)
	mustCreate(t, s, 2, 2, 1)
	a := mustAppend(t, s, 1, testBody(1), imap.FlagFlagged)
	b := mustAppend(t, s, 1, testBody(2))
	pairs, err := s.Copy(context.Background(), 1, []uint32{b.UID, a.UID, 77}, 2)
	if err != nil || !slices.Equal(pairs, []UIDPair{{a.UID, 1}, {b.UID, 3}}) {
		t.Fatalf("copy: %v %v", pairs, err)
	}
	c, _ := s.Message(2, 1)
	if c.GUID != a.GUID || !slices.Equal(c.Flags, a.Flags) || !c.InternalDate.Equal(a.InternalDate) {
		t.Fatalf("copy differs: %+v vs %+v", c, a)
	}
	before, _ := s.Status(1)
	pairs, err = s.Move(context.Background(), 1, []uint32{a.UID}, 2)
	if err != nil || !slices.Equal(pairs, []UIDPair{{a.UID, 5}}) {
		t.Fatalf("move: %v %v", pairs, err)
	}
	after, _ := s.Status(1)
	if after.Messages != 1 || after.HighestModSeq <= before.HighestModSeq {
		t.Fatalf("source after move: %+v", after)
	}
	if st, _ := s.Status(2); st.Messages != 3 {
		t.Fatalf("destination after move: %+v", st)
	}
	if _, err := s.Copy(context.Background(), 1, []uint32{b.UID}, 3); !errors.Is(err, ErrNoMailbox) {
		t.Fatalf("copy to missing mailbox: %v", err)
	}
	mustVerify(t, s)
}

func TestSingleInstance(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	for id := uint64(1); id <= 3; id++ {
		mustCreate(t, s, id, 1, 0)
	}
	ds, err := s.Deliver(context.Background(), []uint64{1, 2, 9}, strings.NewReader(testBody(1)), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if ds[0].Err != nil || ds[1].Err != nil || !errors.Is(ds[2].Err, ErrNoMailbox) {
		t.Fatalf("deliveries: %+v", ds)
	}
	m := mustAppend(t, s, 3, testBody(1))
	if m.GUID != ds[0].Message.GUID {
		t.Fatalf("same body, different guid")
	}
	if n := storedBodies(t, s); n != 1 {
		t.Fatalf("%d bodies stored, want 1", n)
	}
	s.StoreFlags(1, []uint32{1}, FlagsAdd, []imap.Flag{imap.FlagDeleted}, 0)
	s.Expunge(1, nil)
	if err := s.DeleteMailbox(2); err != nil {
		t.Fatal(err)
	}
	if n := storedBodies(t, s); n != 1 {
		t.Fatalf("body removed while mailbox 3 holds it")
	}
	mustVerify(t, s)
	if err := s.DeleteMailbox(3); err != nil {
		t.Fatal(err)
	}
	waitStoredBodies(t, s, 0) // the last reference went
	if _, err := s.Messages(3); !errors.Is(err, ErrNoMailbox) {
		t.Fatalf("deleted mailbox: %v", err)
	}
	mustVerify(t, s)
}

// largeBody is a body too large to be kept inline: it has a file.
func largeBody(n int) string {
	return testBody(n) + strings.Repeat("a line of a large body\r\n", inlineMax/20)
}

// storedBodies counts the bodies the store keeps: message files and
// inline bodies.
func storedBodies(t testing.TB, s *Store) int {
	t.Helper()
	n := countFiles(t, filepath.Join(s.dir, messagesDir))
	if err := s.view(func(tx *bolt.Tx) error { n += tx.Bucket(bucketInline).Stats().KeyN; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitStoredBodies waits until the store keeps n bodies: an inline body
// whose last reference went is removed by a later commit.
func waitStoredBodies(t testing.TB, s *Store, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d bodies stored", n), func() bool { return storedBodies(t, s) == n })
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// keepsNothing fails t unless the store keeps no body and stages none.
func keepsNothing(t testing.TB, s *Store) {
	t.Helper()
	s.pinMu.Lock()
	staged, bytes, pins := len(s.staged), s.stagedBytes, len(s.pins)
	s.pinMu.Unlock()
	if n := storedBodies(t, s); n != 0 || staged != 0 || bytes != 0 || pins != 0 {
		t.Fatalf("%d bodies kept, %d staged (%d bytes), %d pinned; want none", n, staged, bytes, pins)
	}
}

// bodyKept reports whether the store still keeps body guid, as a file or
// inline.
func bodyKept(t testing.TB, s *Store, guid string) bool {
	t.Helper()
	if _, err := os.Stat(s.bodyPath(guid)); err == nil {
		return true
	}
	var kept bool
	if err := s.view(func(tx *bolt.Tx) error { kept = inlineSize(tx, guid) >= 0; return nil }); err != nil {
		t.Fatal(err)
	}
	return kept
}

func countFiles(t testing.TB, root string) int {
	n := 0
	filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	return n
}

func TestTooBig(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustCreate(t, s, 1, 1, 0)
	big := bytes.Repeat([]byte("x"), 1<<20+1)
	_, err := s.Append(context.Background(), AppendRequest{Mailbox: 1, Body: bytes.NewReader(big)})
	if !errors.Is(err, ErrTooBig) {
		t.Fatalf("got %v", err)
	}
	st, _ := s.Status(1)
	if st.Messages != 0 || st.HighestModSeq != 1 {
		t.Fatalf("too-big message changed the index: %+v", st)
	}
	if n := countFiles(t, dir) - 1; n != 0 { // index.db only
		t.Fatalf("%d files left behind", n)
	}
	if _, err := s.Append(context.Background(), AppendRequest{Mailbox: 1, Body: bytes.NewReader(big[:1<<20])}); err != nil {
		t.Fatalf("message of exactly the limit: %v", err)
	}
}

// A message directory removed while the store runs is made again.
func TestMissingMessageDirectory(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustCreate(t, s, 1, 1, 0)
	sum := sha256.Sum256([]byte(largeBody(1)))
	guid := hex.EncodeToString(sum[:])
	if err := os.Remove(filepath.Dir(s.bodyPath(guid))); err != nil {
		t.Fatal(err)
	}
	if m := mustAppend(t, s, 1, largeBody(1)); m.GUID != guid {
		t.Fatalf("GUID %s, want %s", m.GUID, guid)
	}
	mustVerify(t, s)
}

func TestVerifyFindsMissingBody(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustCreate(t, s, 1, 1, 0)
	m := mustAppend(t, s, 1, largeBody(1))
	small := mustAppend(t, s, 1, testBody(1))
	mustVerify(t, s)
	if err := os.Remove(s.bodyPath(m.GUID)); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(); err == nil || !strings.Contains(err.Error(), m.GUID) {
		t.Fatalf("verify missed a missing body file: %v", err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketInline).Delete(guidKey(small.GUID)) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(); err == nil || !strings.Contains(err.Error(), small.GUID) {
		t.Fatalf("verify missed a missing inline body: %v", err)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, 1, 2, 1)
	mustCreate(t, s, 2, 2, 1)
	a := mustAppend(t, s, 1, largeBody(1), imap.FlagAnswered)
	mustAppend(t, s, 2, testBody(2))
	if err := s.Quarantine(2, "not in directory"); err != nil {
		t.Fatal(err)
	}
	want, _ := s.Status(1)
	// An orphan as a crash between file and index leaves it.
	orphan := filepath.Join(dir, messagesDir, "00", "00", strings.Repeat("0", 64))
	os.MkdirAll(filepath.Dir(orphan), 0o700)
	os.WriteFile(orphan, []byte("x"), 0o600)
	// A's body where the older layout (messages/ab/cd/<guid>) kept it.
	old := filepath.Join(dir, messagesDir, a.GUID[0:2], a.GUID[2:4], a.GUID)
	os.MkdirAll(filepath.Dir(old), 0o700)
	if err := os.Rename(s.bodyPath(a.GUID), old); err != nil {
		t.Fatal(err)
	}
	// An inline body whose last reference went just before a crash: the
	// commit that dropped it listed it as unreferenced.
	orphanInline := bytes.Repeat([]byte{7}, 32)
	if err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketInline).Put(orphanInline, []byte("x")); err != nil {
			return err
		}
		return tx.Bucket(bucketUnreferenced).Put(orphanInline, []byte{})
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), AppendRequest{Mailbox: 1, Body: strings.NewReader("x")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}

	s = openStore(t, dir)
	got, err := s.Status(1)
	if err != nil || got != want {
		t.Fatalf("status after reopen: %+v %v, want %+v", got, err, want)
	}
	m, err := s.Message(1, a.UID)
	if err != nil || m.GUID != a.GUID || !slices.Equal(m.Flags, a.Flags) || !m.InternalDate.Equal(a.InternalDate) || m.ModSeq != a.ModSeq {
		t.Fatalf("message after reopen: %+v %v, want %+v", m, err, a)
	}
	if list, _ := s.Mailboxes(); len(list) != 1 || list[0].ID != 1 {
		t.Fatalf("quarantined mailbox listed: %v", list)
	}
	if _, err := os.Stat(orphan); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("orphan survived open: %v", err)
	}
	if bodyKept(t, s, hex.EncodeToString(orphanInline)) {
		t.Fatal("orphan inline body survived open")
	}
	mustVerify(t, s) // a's body was moved to where it belongs
	if b := mustAppend(t, s, 1, testBody(3)); b.UID != a.UID+2 {
		t.Fatalf("uid after reopen %d", b.UID)
	}
	mustVerify(t, s) // the quarantined mailbox's body is still referenced
}

func TestEnvelopeAndBodyStructure(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustCreate(t, s, 1, 1, 0)
	body := "From: Ann <ann@example.org>\r\nSubject: parts\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: application/pdf\r\n" +
		"Content-Disposition: attachment; filename=a.pdf\r\n\r\nPDF\r\n--b--\r\n"
	m := mustAppend(t, s, 1, body)
	env, err := s.Envelope(m.GUID)
	if err != nil || env.Subject != "parts" || len(env.From) != 1 || env.From[0].Host != "example.org" {
		t.Fatalf("envelope %+v %v", env, err)
	}
	bs, err := s.BodyStructure(m.GUID, true)
	if err != nil {
		t.Fatal(err)
	}
	mp, ok := bs.(*imap.BodyStructureMultiPart)
	if !ok || len(mp.Children) != 2 || mp.Children[1].MediaType() != "application/pdf" {
		t.Fatalf("body structure %#v", bs)
	}
	if f := mp.Children[1].(*imap.BodyStructureSinglePart).Filename(); f != "a.pdf" {
		t.Fatalf("filename %q", f)
	}
	plain, _ := s.BodyStructure(m.GUID, false)
	if plain.(*imap.BodyStructureMultiPart).Extended != nil {
		t.Fatalf("non-extended body structure carries extension data")
	}
	if _, err := s.Envelope(strings.Repeat("ab", 32)); !errors.Is(err, ErrNoMessage) {
		t.Fatalf("envelope of unknown body: %v", err)
	}
	if _, err := s.Body("../../etc/passwd"); !errors.Is(err, ErrInvalidGUID) {
		t.Fatalf("body with bad guid: %v", err)
	}
	f, err := s.Body(m.GUID)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, err := io.ReadAll(f); err != nil || string(got) != string(body) {
		t.Fatalf("body read back: %d bytes, %v; stored %d", len(got), err, len(body))
	}
}

func TestWatch(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustCreate(t, s, 1, 1, 0)
	mustCreate(t, s, 2, 1, 0)
	var mu sync.Mutex
	var got []Change
	stop := s.Watch(func(c Change) {
		mu.Lock()
		got = append(got, c)
		mu.Unlock()
	})
	mustAppend(t, s, 1, testBody(1))
	s.StoreFlags(1, []uint32{1}, FlagsAdd, []imap.Flag{imap.FlagSeen}, 0)
	s.StoreFlags(1, []uint32{1}, FlagsAdd, []imap.Flag{imap.FlagSeen}, 0) // no change, no event
	s.Move(context.Background(), 1, []uint32{1}, 2)
	stop()
	mustAppend(t, s, 1, testBody(2))
	want := []Change{
		{Mailbox: 1, Kind: Appended, UIDs: []uint32{1}},
		{Mailbox: 1, Kind: FlagsChanged, UIDs: []uint32{1}},
		{Mailbox: 2, Kind: Appended, UIDs: []uint32{1}},
		{Mailbox: 1, Kind: Expunged, UIDs: []uint32{1}},
	}
	mu.Lock()
	defer mu.Unlock()
	// An expunge carries the records as they were.
	if n := len(got); n != len(want) || len(got[n-1].Gone) != 1 || got[n-1].Gone[0].UID != 1 || !hasFlag(got[n-1].Gone[0].Flags, imap.FlagSeen) {
		t.Fatalf("changes %+v: the expunge does not carry UID 1's record", got)
	}
	got[len(got)-1].Gone = nil
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
}

func TestSetUIDValidity(t *testing.T) {
	s := openStore(t, t.TempDir())
	if err := s.CreateMailbox(MailboxMeta{ID: 7, UIDValidity: 1, Stride: 2, Slot: 0}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUIDValidity(7, 4242); err != nil {
		t.Fatal(err)
	}
	st, err := s.Status(7)
	if err != nil {
		t.Fatal(err)
	}
	if st.UIDValidity != 4242 {
		t.Fatalf("uidvalidity %d, want 4242", st.UIDValidity)
	}
	if err := s.SetUIDValidity(8, 1); !errors.Is(err, ErrNoMailbox) {
		t.Fatalf("unknown mailbox: %v", err)
	}
	if err := s.SetUIDValidity(7, 0); !errors.Is(err, ErrInvalidMeta) {
		t.Fatalf("uidvalidity 0: %v", err)
	}
}

// TestNoTempFilesLeft: a new body, a body already stored, one over the
// size limit and a delivery every mailbox refuses leave nothing in the
// temp directory.
func TestNoTempFilesLeft(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustCreate(t, s, 1, 1, 0)
	mustAppend(t, s, 1, testBody(1))
	mustAppend(t, s, 1, testBody(1))
	if _, err := s.Append(context.Background(), AppendRequest{Mailbox: 1, Body: strings.NewReader(strings.Repeat("x", 2<<20))}); !errors.Is(err, ErrTooBig) {
		t.Fatalf("oversized append: %v", err)
	}
	refuse := func(uint64, int64) error { return errors.New("refused") }
	ds, err := s.DeliverAdmitted(context.Background(), []uint64{1}, strings.NewReader(testBody(2)), time.Now(), refuse)
	if err != nil || ds[0].Err == nil {
		t.Fatalf("refused delivery: %+v, %v", ds, err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, tmpDir))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("temp files left: %v", entries)
	}
	if ms, _ := s.Messages(1); len(ms) != 2 {
		t.Fatalf("mailbox holds %d messages, want 2", len(ms))
	}
	mustVerify(t, s)
}

// A raised floor puts the next UID above it, in the copy's slot, and
// travels with a copy made afterwards; a lower floor changes nothing.
func TestRaiseUIDFloor(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustCreate(t, s, 7, 2, 1)
	if err := s.RaiseUIDFloor(7, 100); err != nil {
		t.Fatal(err)
	}
	if err := s.RaiseUIDFloor(7, 50); err != nil {
		t.Fatal(err)
	}
	res, err := s.Append(context.Background(), AppendRequest{Mailbox: 7, Body: strings.NewReader(testBody(1))})
	if err != nil {
		t.Fatal(err)
	}
	if res.UID != 101 {
		t.Fatalf("uid %d after a floor of 100 in slot 1 of 2, want 101", res.UID)
	}
	cb, err := s.ChangesSince(7, 0, false)
	if err != nil || cb.MaxSeenUID != 101 {
		t.Fatalf("a copy made now carries max seen %d (%v), want 101", cb.MaxSeenUID, err)
	}
	if err := s.RaiseUIDFloor(8, 1); !errors.Is(err, ErrNoMailbox) {
		t.Fatalf("floor of a missing mailbox: %v", err)
	}
}
