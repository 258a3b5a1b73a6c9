package fsm

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// randomCommand draws from a small universe of names, users, backends and
// reservations, so that commands often collide and break rules. Names
// and ids are often those of mailboxes in st, the state the command goes
// to, so that commands on a live mailbox (a move) get far enough.
func randomCommand(rng *rand.Rand, st *View) Command {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	var live []*Mailbox
	st.Mailboxes("", func(mb *Mailbox) bool { live = append(live, mb); return true })
	name := func() string {
		if len(live) > 0 && rng.IntN(3) == 0 {
			return live[rng.IntN(len(live))].Name
		}
		return pick("user/alice/INBOX", "user/alice/a", "user/alice/a/b", "user/alice/a/b/c", "user/alice/c",
			"user/bob/INBOX", "shared/x", "shared/x/y", "shared/z", "bad")
	}
	id := func() uint64 {
		if moves := st.Moves(); len(moves) > 0 && rng.IntN(2) == 0 {
			return moves[rng.IntN(len(moves))].Mailbox
		}
		if len(live) == 0 || rng.IntN(5) == 0 {
			return rng.Uint64N(20)
		}
		return live[rng.IntN(len(live))].ID
	}
	user := func() string { return pick("alice", "bob", "carol", "Bad User") }
	ident := func() string { return pick("alice", "bob", "carol", "anyone", "-bob", "-anyone", "Bad User") }
	backend := func() string { return pick("b1", "b2", "b3", "b9") }
	res := func() string { return pick("r1", "r2", "") }
	moveID := func() string { return pick("m1", "m2", "m1", "m2", "") }
	switch rng.IntN(30) {
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
	case 8, 9:
		return SetACL{Name: name(), Identifier: ident(), Rights: pick("lr", "", "lrswipkxtea", "z")}
	case 10:
		return UserAdd{Name: user(), PasswordHash: "h"}
	case 11:
		return UserDelete{Name: user()}
	case 12:
		return Subscribe{User: user(), Name: name()}
	case 13:
		return Unsubscribe{User: user(), Name: name()}
	case 14:
		return SetBackendState{ID: backend(), State: BackendState(rng.IntN(5))}
	case 15:
		return RemoveDeletions{Backend: backend()}
	case 16:
		return ReleaseReservations{Backend: pick("", "b1", "b2"), Before: rng.Int64N(100)}
	case 17:
		return SetInSync{Primary: backend(), Replica: backend(), InSync: rng.IntN(3) > 0, At: rng.Int64N(100)}
	case 18:
		return Failover{Backend: backend(), Force: rng.IntN(2) == 0, At: rng.Int64N(100)}
	case 19, 20:
		return MoveStart{Name: name(), MoveID: moveID(), Target: backend(), KeepSource: rng.IntN(2) == 0, At: rng.Int64N(100)}
	case 21, 22:
		return MoveMark{Mailbox: id(), MoveID: moveID()}
	case 23, 24:
		return MoveSwitch{Mailbox: id(), MoveID: moveID(), At: rng.Int64N(100)}
	case 25:
		return MoveAbort{Mailbox: id(), MoveID: moveID(), At: rng.Int64N(100)}
	case 26:
		return UserQuota{Name: user(), QuotaBytes: []int64{0, 100, -1}[rng.IntN(3)]}
	case 27:
		return UserAdmin{Name: user(), Admin: rng.IntN(2) == 0}
	case 28:
		return UserPasswd{Name: user(), PasswordHash: pick("h", "h2")}
	default:
		switch rng.IntN(4) {
		case 0:
			return Noop{}
		case 1:
			return ModifyACL{Name: name(), Identifier: ident(), Mode: ACLMode(rng.IntN(3)), Rights: pick("lr", "w", "lrswipkxtea", "z")}
		case 2:
			var epoch uint64
			mid := id()
			if mb, ok := st.MailboxByID(mid); ok && rng.IntN(4) > 0 {
				epoch = mb.Epoch
			}
			return Rereplicate{Primary: backend(), Add: backend(), Items: []RereplicateItem{{Mailbox: mid, Epoch: epoch, Drop: pick("", "b1", "b2", "b3")}}, At: rng.Int64N(100)}
		}
		return BackendRegister{ID: pick("b1", "b2", "b3", "b4", "bad id"), IMAPAddr: "x:143", Weight: uint32(rng.IntN(3)), At: rng.Int64N(100)}
	}
}

// randomAccountCommand draws a domain or alias command, or a user's
// arrival or departure, from a universe that overlaps randomCommand's
// users.
func randomAccountCommand(rng *rand.Rand) Command {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	domain := func() string { return pick("example.org", "Example.NET", "bad domain") }
	address := func() string {
		return pick("info@example.org", "Sales@example.net", "alice@example.org", "bob@example.net", "no-domain", "x@other.org")
	}
	user := func() string { return pick("alice", "bob", "carol", "info@example.org") }
	switch rng.IntN(8) {
	case 0:
		return DomainRemove{Name: domain()}
	case 1, 2:
		return DomainAdd{Name: domain(), Default: rng.IntN(3) == 0}
	case 3, 4:
		return AliasAdd{Address: address(), User: user()}
	case 5:
		return AliasRemove{Address: address()}
	case 6:
		return UserAdd{Name: user(), PasswordHash: "h"}
	}
	return UserDelete{Name: user()}
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
	checkDerived(t, st)
	checkAccounts(t, st)
}

// checkAccounts verifies the rules that tie aliases to users and domains:
// every alias names a user, in a served domain; domains, when any, have
// exactly one default.
func checkAccounts(t *testing.T, st *View) {
	t.Helper()
	defaults := 0
	for _, d := range st.Domains() {
		if d.Default {
			defaults++
		}
	}
	if len(st.Domains()) > 0 && defaults != 1 {
		t.Fatalf("domains %v have %d defaults", st.Domains(), defaults)
	}
	st.Aliases(func(a *Alias) bool {
		_, domain, _ := strings.Cut(a.Address, "@")
		if _, ok := st.user(a.User); !ok {
			t.Fatalf("alias %s names no user %s", a.Address, a.User)
		}
		if _, ok := st.domainIndex(domain); !ok {
			t.Fatalf("alias %s is in no served domain", a.Address)
		}
		return true
	})
}

// checkDerived verifies that the grants and per-backend indexes equal
// what a full walk of the mailboxes finds.
func checkDerived(t *testing.T, st *View) {
	t.Helper()
	wantGrants := map[string][]*Mailbox{}
	wantCounts := map[string]int{}
	st.Mailboxes("", func(mb *Mailbox) bool {
		wantCounts[mb.Primary.Backend]++
		for _, ace := range mb.ACL {
			if ace.Rights != "" && !strings.HasPrefix(ace.Identifier, "-") {
				wantGrants[ace.Identifier] = append(wantGrants[ace.Identifier], mb)
			}
		}
		return true
	})
	entries := 0
	for ident, want := range wantGrants {
		var got []*Mailbox
		st.Granted(ident, func(mb *Mailbox) bool { got = append(got, mb); return true })
		if !slices.Equal(got, want) {
			t.Fatalf("grants of %q: index %v, walk %v", ident, mailboxNames(got), mailboxNames(want))
		}
		entries += len(want)
	}
	if st.grants.Len() != entries {
		t.Fatalf("grants index has %d entries, the walk finds %d", st.grants.Len(), entries)
	}
	for _, ident := range []string{"alice", "bob", "carol", "anyone"} {
		if _, ok := wantGrants[ident]; !ok {
			st.Granted(ident, func(mb *Mailbox) bool {
				t.Fatalf("grants of %q: index has %s, the walk nothing", ident, mb.Name)
				return false
			})
		}
	}
	if !maps.Equal(st.perBackend, wantCounts) {
		t.Fatalf("per-backend counts: index %v, walk %v", st.perBackend, wantCounts)
	}
	for b, n := range wantCounts {
		if got := st.MailboxesOn(b); got != n {
			t.Fatalf("MailboxesOn(%q) = %d, walk %d", b, got, n)
		}
	}
}

func mailboxNames(mbs []*Mailbox) []string {
	out := make([]string, len(mbs))
	for i, mb := range mbs {
		out[i] = mb.Name
	}
	return out
}

func TestRandomCommands(t *testing.T) {
	succeeded := map[CommandType]int{}
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0))
			f := newTestFSM(t)
			var logs []*raft.Log
			// Domains and aliases draw from a stream of their own, so
			// that the rest of the history is the one each seed always made.
			acc := rand.New(rand.NewPCG(seed, 1))
			step := func(i int, cmd Command) {
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
			for i := 0; i < 400; i++ {
				step(i, randomCommand(rng, f.View()))
				if acc.IntN(4) == 0 {
					step(i, randomAccountCommand(acc))
				}
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
	for typ := TypeReserve; typ <= TypeAliasRemove; typ++ {
		if New().handlers[typ] == nil {
			continue // no such command
		}
		if succeeded[typ] == 0 {
			t.Errorf("no command of type %d succeeded: %v", typ, succeeded)
		}
	}
	if succeeded[TypeRemoveDeletions] == 0 {
		t.Errorf("no RemoveDeletions succeeded: %v", succeeded)
	}
}
