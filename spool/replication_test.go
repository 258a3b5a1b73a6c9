package spool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	bolt "go.etcd.io/bbolt"
)

// ship copies what dst lacks of src's mailbox id, as the replication
// protocol does: bodies dst does not hold, then the batch.
func ship(t *testing.T, src, dst *Store, id uint64, slot uint32, reset bool) error {
	t.Helper()
	st, err := dst.ReplicaState(id)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := src.ChangesSince(id, st.HighestModSeq, reset)
	if err != nil {
		t.Fatal(err)
	}
	var guids []string
	for _, r := range cb.Records {
		guids = append(guids, r.GUID)
	}
	have, err := dst.HasBodies(guids)
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range guids {
		if have[i] {
			continue
		}
		f, err := src.Body(g)
		if err != nil {
			t.Fatal(err)
		}
		release, err := dst.ImportBody(context.Background(), g, f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		defer release()
	}
	return dst.ApplyReplicated(cb, slot)
}

func TestReplicateChangesSince(t *testing.T) {
	p, r := openStore(t, t.TempDir()), openStore(t, t.TempDir())
	p.SetOrigin("b1")
	mustCreate(t, p, 1, 2, 0)
	a := mustAppend(t, p, 1, testBody(1))
	b := mustAppend(t, p, 1, testBody(2), imap.FlagDeleted)
	if err := ship(t, p, r, 1, 1, false); err != nil {
		t.Fatalf("first batch: %v", err)
	}
	// Flag change, expunge, a new message whose body the replica has.
	if _, _, err := p.StoreFlags(1, []uint32{a.UID}, FlagsAdd, []imap.Flag{imap.FlagSeen}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Expunge(1, nil); err != nil {
		t.Fatal(err)
	}
	c := mustAppend(t, p, 1, testBody(1))
	st, _ := r.ReplicaState(1)
	cb, err := p.ChangesSince(1, st.HighestModSeq, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := uidsOf(cb.Records); !slices.Equal(got, []uint32{a.UID, c.UID}) || len(cb.Expunged) != 1 || cb.Expunged[0].UID != b.UID {
		t.Fatalf("changes since %d: records %v expunged %v", st.HighestModSeq, got, cb.Expunged)
	}
	if err := ship(t, p, r, 1, 1, false); err != nil {
		t.Fatalf("second batch: %v", err)
	}
	sameCopies(t, p, r, 1)
	mustVerify(t, r)
	// Both copies' changes indexes are current (not rebuilt at each
	// write, nor read by a scan).
	for _, s := range []*Store{p, r} {
		s.view(func(tx *bolt.Tx) error {
			b, _, m, err := loadMailbox(tx, 1)
			if err != nil || !changesCurrent(b, m.HighestModSeq) {
				t.Errorf("changes index not current after replicated writes (%v)", err)
			}
			return nil
		})
	}

	// A batch that does not follow from the replica's modseq is refused
	// and changes nothing.
	cb.Since = 1
	if err := r.ApplyReplicated(cb, 1); !errors.Is(err, ErrReplicaConflict) {
		t.Fatalf("stale batch: %v", err)
	}
	// A record whose body the replica lacks is refused.
	d := mustAppend(t, p, 1, testBody(3))
	st, _ = r.ReplicaState(1)
	cb, _ = p.ChangesSince(1, st.HighestModSeq, false)
	if err := r.ApplyReplicated(cb, 1); !errors.Is(err, ErrMissingBody) {
		t.Fatalf("batch without body: %v", err)
	}
	if _, err := r.Message(1, d.UID); !errors.Is(err, ErrNoMessage) {
		t.Fatalf("failed batch left uid %d: %v", d.UID, err)
	}
	mustVerify(t, r)
}

// A promoted replica allocates in its own slot above every UID it saw,
// and its lineage records the change of writer.
func TestPromotedReplicaAllocatesAbove(t *testing.T) {
	p, r := openStore(t, t.TempDir()), openStore(t, t.TempDir())
	p.SetOrigin("b1")
	r.SetOrigin("b2")
	mustCreate(t, p, 1, 2, 0)
	for i := range 3 {
		mustAppend(t, p, 1, testBody(i))
	}
	if err := ship(t, p, r, 1, 1, false); err != nil {
		t.Fatal(err)
	}
	pst, _ := p.ReplicaState(1)
	rst, _ := r.ReplicaState(1)
	if !pst.SharesHistory(rst) {
		t.Fatalf("replica %+v does not share history with %+v", rst, pst)
	}
	m := mustAppend(t, r, 1, testBody(9))
	if m.UID != 7 { // p gave 2, 4, 6; r's slot is odd
		t.Fatalf("promoted replica gave uid %d, want 7", m.UID)
	}
	// The old primary wrote on during a partition: histories diverged.
	mustAppend(t, p, 1, testBody(10))
	pst, _ = p.ReplicaState(1)
	rst, _ = r.ReplicaState(1)
	if rst.SharesHistory(pst) || pst.SharesHistory(rst) {
		t.Fatalf("diverged copies share history: %+v %+v", pst, rst)
	}
	if n := len(rst.Lineage); n != 2 || rst.Lineage[1].Writer != "b2" {
		t.Fatalf("lineage %+v", rst.Lineage)
	}
	// A reset copies the new primary whole.
	if err := ship(t, r, p, 1, 0, true); err != nil {
		t.Fatal(err)
	}
	sameCopies(t, r, p, 1)
	mustVerify(t, p)
}

// Readers wait while a commit is replicated, and a failed replication
// leaves the change unacknowledged.
func TestReplicatorRunsBeforeAck(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustCreate(t, s, 1, 1, 0)
	var seen [][]uint64
	s.SetReplicator(func(_ context.Context, ids []uint64) map[uint64]error {
		seen = append(seen, ids)
		if len(seen) == 2 {
			return map[uint64]error{1: errors.New("replica unreachable")}
		}
		return nil
	})
	mustAppend(t, s, 1, testBody(1))
	if len(seen) != 1 || !slices.Equal(seen[0], []uint64{1}) {
		t.Fatalf("replicator saw %v", seen)
	}
	_, err := s.Append(context.Background(), AppendRequest{Mailbox: 1, Body: strings.NewReader(testBody(2))})
	if !errors.Is(err, ErrNotReplicated) || !Temporary(err) {
		t.Fatalf("append with failing replicator: %v", err)
	}
}

func sameCopies(t *testing.T, a, b *Store, id uint64) {
	t.Helper()
	ma, err := a.Messages(id)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := b.Messages(id)
	if err != nil {
		t.Fatal(err)
	}
	if len(ma) != len(mb) {
		t.Fatalf("copies hold %v and %v", uidsOf(ma), uidsOf(mb))
	}
	for i := range ma {
		x, y := ma[i], mb[i]
		if x.UID != y.UID || x.GUID != y.GUID || x.ModSeq != y.ModSeq || !sameFlags(x.Flags, y.Flags) || !x.InternalDate.Equal(y.InternalDate) {
			t.Fatalf("record %d differs: %+v and %+v", i, x, y)
		}
	}
	sa, _ := a.Status(id)
	sb, _ := b.Status(id)
	if sa.HighestModSeq != sb.HighestModSeq || sa.Messages != sb.Messages || sa.Unseen != sb.Unseen {
		t.Fatalf("status %+v and %+v", sa, sb)
	}
}

// A batch's bodies: small ones are stored by writers in the background,
// a large one from the stream. Each ends up durable, in place and pinned
// until Release; a body sent under another body's GUID fails the import
// and Release removes whatever no record names.
func TestBodyImport(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	guidOf := func(body string) string {
		sum := sha256.Sum256([]byte(body))
		return hex.EncodeToString(sum[:])
	}
	var bodies []string
	for i := range 20 {
		bodies = append(bodies, testBody(i))
	}
	bodies = append(bodies, strings.Repeat("large body line\r\n", smallBody/16))

	bi := s.NewBodyImport()
	for _, b := range bodies {
		if err := bi.Add(context.Background(), guidOf(b), strings.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := bi.Sync(); err != nil {
		t.Fatal(err)
	}
	for _, b := range bodies {
		var present bool
		s.view(func(tx *bolt.Tx) error { present = s.bodyPresent(tx, guidOf(b), int64(len(b))); return nil })
		if !present {
			t.Fatalf("imported body %s is not there", guidOf(b)[:8])
		}
	}
	bi.Release() // no record names them: all removed
	if n := storedBodies(t, s); n != 0 {
		t.Fatalf("%d bodies left after release", n)
	}
	s.pinMu.Lock()
	staged := len(s.staged)
	s.pinMu.Unlock()
	if staged != 0 {
		t.Fatalf("%d bodies still staged after release", staged)
	}

	bi = s.NewBodyImport()
	defer bi.Release()
	if err := bi.Add(context.Background(), guidOf(bodies[0]), strings.NewReader(bodies[1])); err != nil {
		t.Fatal(err) // a small body is checked in the background
	}
	if err := bi.Sync(); !errors.Is(err, ErrInvalidGUID) {
		t.Fatalf("Sync after a body sent under another GUID: %v", err)
	}
	if err := bi.Add(context.Background(), guidOf(bodies[2]), strings.NewReader(bodies[2])); !errors.Is(err, ErrInvalidGUID) {
		t.Fatalf("Add after a failed body: %v", err)
	}
}
