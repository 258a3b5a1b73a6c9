package fsm

import (
	"maps"
	"strings"

	"github.com/google/btree"
)

// Indexes that follow a user or a backend, not the size of the directory.
//
// grants maps an ACL identifier to the mailboxes whose ACL grants it
// something: a frontend answers a user's LIST from the user's own subtree,
// the mailboxes granting the user or "anyone", and shared/, never from a
// walk of every user's mailboxes. Only positive entries are indexed: a
// negative entry ("-bob") takes rights away and never makes a mailbox
// visible. The identifiers are the ones CanonicalIdentifier admits (user
// names and "anyone"); a group, were one added, would be indexed as an
// identifier like any other.
//
// perBackend counts the mailboxes, in any state, whose primary copy is on
// each backend: placement reads it instead of counting.
//
// Both are derived from the mailbox records alone, kept by
// insertMailbox and deleteMailbox (every change of a record goes through
// them), and rebuilt as a snapshot is restored, so they are neither in the
// snapshot nor in the digest and cannot drift from the records.

// grantEntry is one (identifier, mailbox) pair, ordered by identifier,
// then mailbox name.
type grantEntry struct {
	ident string
	name  string
	mb    *Mailbox
}

func lessGrant(a, b grantEntry) bool {
	if a.ident != b.ident {
		return a.ident < b.ident
	}
	return a.name < b.name
}

func newGrants() *btree.BTreeG[grantEntry] { return btree.NewG(btreeDegree, lessGrant) }

// granting reports whether ace puts mb in the grants index.
func granting(ace ACE) bool {
	return ace.Rights != "" && !strings.HasPrefix(ace.Identifier, "-")
}

// addToIndexes enters mb in the grants and per-backend indexes and
// returns the dirty bits of what changed.
func (t *tables) addToIndexes(mb *Mailbox) uint8 {
	d := dirtyPerBackend
	t.perBackend[mb.Primary.Backend]++
	for _, ace := range mb.ACL {
		if granting(ace) {
			t.grants.ReplaceOrInsert(grantEntry{ident: ace.Identifier, name: mb.Name, mb: mb})
			d |= dirtyGrants
		}
	}
	return d
}

// dropFromIndexes undoes addToIndexes for mb.
func (t *tables) dropFromIndexes(mb *Mailbox) uint8 {
	d := dirtyPerBackend
	if n := t.perBackend[mb.Primary.Backend] - 1; n > 0 {
		t.perBackend[mb.Primary.Backend] = n
	} else {
		delete(t.perBackend, mb.Primary.Backend)
	}
	for _, ace := range mb.ACL {
		if granting(ace) {
			t.grants.Delete(grantEntry{ident: ace.Identifier, name: mb.Name})
			d |= dirtyGrants
		}
	}
	return d
}

// sharePerBackend is share for the per-backend counts: the working map is
// written in place, so a published state holds its own copy, made only
// when the counts changed (there are few backends).
func sharePerBackend(changed bool, work, published map[string]int) map[string]int {
	if changed || published == nil {
		return maps.Clone(work)
	}
	return published
}

// Granted calls fn for every mailbox whose ACL grants identifier some
// right (a positive entry for exactly that identifier: "anyone" is asked
// for separately), in name order, until fn returns false. The mailbox may
// still be out of the identifier's reach (a negative entry, a state other
// than active): callers decide access with Rights, as ever.
func (v *View) Granted(identifier string, fn func(*Mailbox) bool) {
	v.grants.AscendGreaterOrEqual(grantEntry{ident: identifier}, func(e grantEntry) bool {
		return e.ident == identifier && fn(e.mb)
	})
}

// MailboxesOn is the number of mailboxes, in any state, whose primary
// copy is on backend.
func (v *View) MailboxesOn(backend string) int { return v.perBackend[backend] }
