package fsm

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/hashicorp/raft"
)

// randomCommand draws from a small universe of names, users, backends and
// reservations, so that commands often collide and break rules.
func randomCommand(rng *rand.Rand) Command {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	name := func() string {
		return pick("user/alice/INBOX", "user/alice/a", "user/alice/a/b", "user/alice/a/b/c", "user/alice/c",
			"user/bob/INBOX", "shared/x", "shared/x/y", "shared/z", "bad")
	}
	user := func() string { return pick("alice", "bob", "carol", "Bad User") }
	backend := func() string { return pick("b1", "b2", "b3", "b9") }
	res := func() string { return pick("r1", "r2", "") }
	switch rng.IntN(16) {
	case 0, 1:
		return Reserve{Name: name(), Backend: backend(), Replicas: []string{backend()}, Reservation: res(), At: rng.Int64N(100)}
	case 2, 3:
		return Activate{Name: name(), Reservation: res()}
	case 4:
		return Release{Name: name(), Reservation: res()}
	case 5:
		return MarkDeleting{Name: name()}
	case 6:
		return Remove{Name: name(), ID: rng.Uint64N(20)}
	case 7:
		return Rename{From: name(), To: name()}
	case 8:
		return SetACL{Name: name(), Identifier: user(), Rights: pick("lr", "", "lrswipkxtea", "z")}
	case 9:
		return UserAdd{Name: user(), PasswordHash: "h"}
	case 10:
		return UserDelete{Name: user()}
	case 11:
		return Subscribe{User: user(), Name: name()}
	case 12:
		return Unsubscribe{User: user(), Name: name()}
	case 13:
		return SetBackendState{ID: backend(), State: BackendState(rng.IntN(5))}
	case 14:
		return RemoveDeletions{Backend: backend()}
	default:
		return ReleaseReservations{Backend: pick("", "b1", "b2"), Before: rng.Int64N(100)}
	}
}

// checkIndexes verifies that the name, id and reservation indexes agree.
func checkIndexes(t *testing.T, f *FSM) {
	t.Helper()
	st := f.cur.Load()
	if st.names.Len() != st.ids.Len() {
		t.Fatalf("%d names, %d ids", st.names.Len(), st.ids.Len())
	}
	unsettledN := 0
	st.names.Ascend(func(e nameEntry) bool {
		if e.name != e.mb.Name {
			t.Fatalf("entry %q holds %q", e.name, e.mb.Name)
		}
		if byID, ok := st.mailboxByID(e.mb.ID); !ok || byID != e.mb {
			t.Fatalf("id index of %q: %+v", e.name, byID)
		}
		if e.mb.ID >= st.nextID {
			t.Fatalf("%q has id %d >= next %d", e.name, e.mb.ID, st.nextID)
		}
		if e.mb.State == Reserved || e.mb.State == Deleting {
			unsettledN++
			if r, ok := st.unsettled.Get(e); !ok || r.mb != e.mb {
				t.Fatalf("%s %q missing from the unsettled index", e.mb.State, e.name)
			}
		}
		return true
	})
	if unsettledN != st.unsettled.Len() {
		t.Fatalf("%d reserved or deleting mailboxes, index has %d", unsettledN, st.unsettled.Len())
	}
}

func TestRandomCommands(t *testing.T) {
	succeeded := map[CommandType]int{}
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0))
			f := newTestFSM(t)
			var logs []*raft.Log
			for i := 0; i < 400; i++ {
				cmd := randomCommand(rng)
				before := f.Digest()
				data, _ := Encode(cmd)
				logs = append(logs, logAt(f.index+1, data))
				r := f.apply(cmd)
				if r.Err != nil && f.Digest() != before {
					t.Fatalf("step %d: %T %+v failed with %v and changed the state", i, cmd, cmd, r.Err)
				}
				if r.Err == nil {
					succeeded[cmd.Type()]++
				}
				checkIndexes(t, f.FSM)
			}
			// The same entries, replayed in batches on a replica that
			// restored an early snapshot, reach the same state.
			g := newTestFSM(t)
			data := persist(t, g.FSM)
			h := New()
			if err := h.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
				t.Fatal(err)
			}
			for len(logs) > 0 {
				n := min(len(logs), 1+rng.IntN(50))
				h.ApplyBatch(logs[:n])
				logs = logs[n:]
			}
			checkIndexes(t, h)
			if h.Digest() != f.Digest() || h.AppliedIndex() != f.AppliedIndex() {
				t.Fatal("replica diverged")
			}
			back := New()
			if err := back.Restore(io.NopCloser(bytes.NewReader(persist(t, f.FSM)))); err != nil {
				t.Fatal(err)
			}
			checkIndexes(t, back)
			if back.Digest() != f.Digest() {
				t.Fatal("snapshot of the final state restores differently")
			}
		})
	}
	// The universe is small enough that every kind of change happens.
	for typ := TypeReserve; typ <= TypeReleaseReservations; typ++ {
		if typ == TypeUserPasswd || typ == TypeBackendRegister {
			continue // not drawn
		}
		if succeeded[typ] == 0 {
			t.Errorf("no command of type %d succeeded: %v", typ, succeeded)
		}
	}
	if succeeded[TypeRemoveDeletions] == 0 {
		t.Errorf("no RemoveDeletions succeeded: %v", succeeded)
	}
}
