package fsm

import (
	"strings"

	"github.com/google/btree"
)

// The directory's state lives in copy-on-write B-trees. The apply goroutine
// mutates a working copy (tables) in place; after each command or batch it
// publishes a state whose trees are O(1) clones of the working trees. A
// published state is never written again, so readers and snapshots use it
// without locks while Apply goes on: the next write to the working copy
// copies just the path it changes.

const btreeDegree = 16

// nameEntry and idEntry keep the sort key inline, so a lookup compares keys
// without following a pointer and needs no probe record.
type nameEntry struct {
	name string
	mb   *Mailbox
}

type idEntry struct {
	id uint64
	mb *Mailbox
}

// subscription is one (user, mailbox name) pair; the tree orders a user's
// subscriptions together and by name.
type subscription struct {
	user, name string
}

func lessName(a, b nameEntry) bool { return a.name < b.name }
func lessID(a, b idEntry) bool     { return a.id < b.id }
func lessUser(a, b *User) bool     { return a.Name < b.Name }
func lessSub(a, b subscription) bool {
	if a.user != b.user {
		return a.user < b.user
	}
	return a.name < b.name
}

// tables is the whole replicated state.
type tables struct {
	names     *btree.BTreeG[nameEntry]    // every mailbox, by name
	ids       *btree.BTreeG[idEntry]      // every mailbox, by id
	unsettled *btree.BTreeG[nameEntry]    // mailboxes in state Reserved or Deleting, by name
	users     *btree.BTreeG[*User]        // by name
	subs      *btree.BTreeG[subscription] // by user, then name
	backends  []*Backend                  // sorted by ID; replaced whole, never changed in place
	inSync    []Pair                      // sorted by (Primary, Replica); replaced whole
	moves     []Move                      // sorted by mailbox id; replaced whole
	domains   []Domain                    // sorted by name; replaced whole
	aliases   *btree.BTreeG[*Alias]       // by address

	grants     *btree.BTreeG[grantEntry] // by identifier, then name; see index.go
	perBackend map[string]int            // mailboxes by primary backend; see index.go

	nextID          uint64 // next mailbox id; ids start at 1
	nextUIDValidity uint32 // next uidvalidity; strictly increasing, starts at 1
}

func newTables() *tables {
	return &tables{
		names:           btree.NewG(btreeDegree, lessName),
		ids:             btree.NewG(btreeDegree, lessID),
		unsettled:       btree.NewG(btreeDegree, lessName),
		users:           btree.NewG(btreeDegree, lessUser),
		subs:            btree.NewG(btreeDegree, lessSub),
		aliases:         btree.NewG(btreeDegree, lessAlias),
		grants:          newGrants(),
		perBackend:      map[string]int{},
		nextID:          1,
		nextUIDValidity: 1,
	}
}

// dirty bits say which working trees changed since the last publish, so
// only those are cloned (a clone makes the next write copy a path).
const (
	dirtyNames uint8 = 1 << iota
	dirtyIDs
	dirtyUnsettled
	dirtyUsers
	dirtySubs
	dirtyGrants
	dirtyPerBackend
	dirtyAliases
	dirtyAll = dirtyNames | dirtyIDs | dirtyUnsettled | dirtyUsers | dirtySubs | dirtyGrants | dirtyPerBackend | dirtyAliases
)

// View is a published, immutable state of the tables, pinned at the
// index of the last command applied to it: every read through one View
// sees the same state, however long it takes and whatever Apply does
// meanwhile. (*FSM).View returns the latest; taking one costs nothing.
type View struct {
	tables
	applied uint64 // index of the last command applied
}

func (t *tables) mailbox(name string) (*Mailbox, bool) {
	e, ok := t.names.Get(nameEntry{name: name})
	return e.mb, ok
}

func (t *tables) mailboxByID(id uint64) (*Mailbox, bool) {
	e, ok := t.ids.Get(idEntry{id: id})
	return e.mb, ok
}

// ascendPrefix calls fn for each mailbox whose name starts with prefix, in
// name order, until fn returns false.
func (t *tables) ascendPrefix(prefix string, fn func(*Mailbox) bool) {
	t.names.AscendGreaterOrEqual(nameEntry{name: prefix}, func(e nameEntry) bool {
		if !strings.HasPrefix(e.name, prefix) {
			return false
		}
		return fn(e.mb)
	})
}

// hasMailboxes reports whether any mailbox's name starts with prefix.
func (t *tables) hasMailboxes(prefix string) bool {
	found := false
	t.ascendPrefix(prefix, func(*Mailbox) bool { found = true; return false })
	return found
}

func (t *tables) user(name string) (*User, bool) {
	return t.users.Get(&User{Name: name})
}

func (t *tables) backend(id string) (*Backend, bool) {
	i, ok := t.backendIndex(id)
	if !ok {
		return nil, false
	}
	return t.backends[i], true
}

// backendIndex is where id is or would be in the sorted backends slice.
func (t *tables) backendIndex(id string) (int, bool) {
	lo, hi := 0, len(t.backends)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t.backends[m].ID < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(t.backends) && t.backends[lo].ID == id
}

// internBackend returns the registered backend's own id string, so that
// the many mailbox records naming a backend share one string.
func (t *tables) internBackend(id string) (string, bool) {
	b, ok := t.backend(id)
	if !ok {
		return "", false
	}
	return b.ID, true
}
