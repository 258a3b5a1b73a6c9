package fsm

import (
	"fmt"
	"strings"
)

// Access-control lists (RFC 4314). Rights are stored as letters in the
// canonical order below, so equal rights compare equal as strings.

// rightsOrder is every right RFC 4314 defines, in canonical order.
const rightsOrder = "lrswipkxtea"

// AllRights is every right, in canonical order: what an owner holds on the
// mailboxes of their own namespace.
const AllRights = rightsOrder

// obsoleteRights maps RFC 2086's rights onto RFC 4314's: "c" (create) is
// the union of k and x, "d" (delete) the union of x, t and e.
var obsoleteRights = map[byte]string{'c': "kx", 'd': "xte"}

// AnyoneIdentifier is the identifier that matches every user.
const AnyoneIdentifier = "anyone"

// CanonicalRights checks a rights string and returns it in canonical order
// with obsolete letters expanded and duplicates dropped.
func CanonicalRights(rights string) (string, error) {
	var have [256]bool
	for i := 0; i < len(rights); i++ {
		c := rights[i]
		switch {
		case strings.IndexByte(rightsOrder, c) >= 0:
			have[c] = true
		case obsoleteRights[c] != "":
			for _, r := range []byte(obsoleteRights[c]) {
				have[r] = true
			}
		default:
			return "", fmt.Errorf("%w: unknown right %q", ErrInvalidACL, c)
		}
	}
	out := make([]byte, 0, len(rightsOrder))
	for i := 0; i < len(rightsOrder); i++ {
		if have[rightsOrder[i]] {
			out = append(out, rightsOrder[i])
		}
	}
	return string(out), nil
}

// CanonicalIdentifier checks an ACL identifier: "anyone" or a user name,
// either with a leading '-' for negative rights. User names are canonical.
func CanonicalIdentifier(id string) (string, error) {
	neg, name := "", id
	if rest, ok := strings.CutPrefix(id, "-"); ok {
		neg, name = "-", rest
	}
	if strings.EqualFold(name, AnyoneIdentifier) {
		return neg + AnyoneIdentifier, nil
	}
	user, err := CanonicalUser(name)
	if err != nil {
		return "", fmt.Errorf("%w: identifier %q", ErrInvalidACL, id)
	}
	return neg + user, nil
}

// Rights is what user (a canonical user name) may do on m, in canonical
// order: every right in the user's own namespace; elsewhere the rights
// the ACL grants user or "anyone", less those its negative entries
// ("-user", "-anyone") take away (RFC 4314 section 2). Every server of the
// cluster decides access with it, so a frontend and a backend never
// disagree.
func Rights(user string, m *Mailbox) string {
	if Owner(m.Name) == user {
		return AllRights
	}
	var granted, denied [256]bool
	for _, ace := range m.ACL {
		id, negative := strings.CutPrefix(ace.Identifier, "-")
		if id != user && id != AnyoneIdentifier {
			continue
		}
		set := &granted
		if negative {
			set = &denied
		}
		for i := 0; i < len(ace.Rights); i++ {
			set[ace.Rights[i]] = true
		}
	}
	out := make([]byte, 0, len(rightsOrder))
	for i := 0; i < len(rightsOrder); i++ {
		if r := rightsOrder[i]; granted[r] && !denied[r] {
			out = append(out, r)
		}
	}
	return string(out)
}

// PostmasterIdentifier is the identity an LMTP delivery has besides
// "anyone" when it checks the post right.
const PostmasterIdentifier = "postmaster"

// MayPost reports whether mail addressed to a detail (user+detail) may be
// filed into m: "anyone" or "postmaster" must hold the post right "p", as
// Cyrus asks. Without it the mail goes to the INBOX.
func MayPost(m *Mailbox) bool {
	return HasRight(AnyoneIdentifier, m, 'p') || HasRight(PostmasterIdentifier, m, 'p')
}

// HasRight reports whether user holds right on m (see Rights).
func HasRight(user string, m *Mailbox, right byte) bool {
	if strings.IndexByte(rightsOrder, right) < 0 {
		return false
	}
	if Owner(m.Name) == user {
		return strings.IndexByte(AllRights, right) >= 0
	}
	granted := false
	for _, ace := range m.ACL {
		id, negative := strings.CutPrefix(ace.Identifier, "-")
		if id != user && id != AnyoneIdentifier || strings.IndexByte(ace.Rights, right) < 0 {
			continue
		}
		if negative {
			return false
		}
		granted = true
	}
	return granted
}

// setACL replaces Identifier's entry (see withEntry).
func (f *FSM) setACL(c SetACL) Result {
	old, ok := f.work.mailbox(c.Name)
	if !ok {
		return failed(ErrNoMailbox)
	}
	id, err := CanonicalIdentifier(c.Identifier)
	if err != nil {
		return failed(err)
	}
	rights, err := CanonicalRights(c.Rights)
	if err != nil {
		return failed(err)
	}
	mb := withEntry(old, id, rights)
	f.replaceMailbox(old, mb)
	return Result{Mailbox: mb}
}

// sortACL orders entries by identifier, so that the record (and the
// digest) does not depend on the order rights were granted in.
func sortACL(acl []ACE) {
	for i := 1; i < len(acl); i++ {
		for j := i; j > 0 && acl[j].Identifier < acl[j-1].Identifier; j-- {
			acl[j], acl[j-1] = acl[j-1], acl[j]
		}
	}
}
