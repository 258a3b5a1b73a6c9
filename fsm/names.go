package fsm

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Mailbox names: the one place where the project decides what a name may be.
//
// The canonical internal form, used in the directory, in the Raft log and
// between nodes, is a path of segments joined by Separator:
//
//	user/<user>/INBOX          a user's inbox
//	user/<user>/INBOX/<path>   folders below the inbox
//	user/<user>/<path>         a user's other folders
//	shared/<path>              shared folders
//
// A client sees names relative to its user (see Internal and External):
// "INBOX", "Sent", "Other Users/bob/Sent", "Shared/news". Names never become
// file-system paths: the spool stores mailboxes by id.

const (
	// Separator is the hierarchy separator, internal and as clients see it.
	Separator = '/'
	// MaxNameLen bounds a canonical internal name in bytes.
	MaxNameLen = 512
	// MaxSegmentLen bounds one segment of a name in bytes.
	MaxSegmentLen = 255
	// MaxUserLen bounds a user name in bytes.
	MaxUserLen = 128

	// OtherUsersPrefix and SharedPrefix are the IMAP namespaces (RFC 2342)
	// for other users' folders and shared folders.
	OtherUsersPrefix = "Other Users"
	SharedPrefix     = "Shared"

	userRoot   = "user"
	sharedRoot = "shared"
	inbox      = "INBOX"
)

// CanonicalUser checks a user name and returns its canonical (lower-case)
// form: a local part of letters, digits, '.', '_' and '-' starting with a
// letter or digit, optionally followed by '@' and a domain. '+' is not
// allowed: LMTP uses it for the detail part of an address.
func CanonicalUser(name string) (string, error) {
	if name == "" || len(name) > MaxUserLen {
		return "", fmt.Errorf("%w: user name must be 1 to %d bytes", ErrInvalidUser, MaxUserLen)
	}
	name = strings.ToLower(name)
	local, domain, hasDomain := strings.Cut(name, "@")
	if !validUserPart(local, "._-") {
		return "", fmt.Errorf("%w: %q", ErrInvalidUser, name)
	}
	if hasDomain && !validUserPart(domain, ".-") {
		return "", fmt.Errorf("%w: bad domain in %q", ErrInvalidUser, name)
	}
	return name, nil
}

func validUserPart(s, punct string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && strings.IndexByte(punct, c) >= 0:
		default:
			return false
		}
	}
	return true
}

// ValidateName checks that name is a canonical internal mailbox name.
func ValidateName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("%w: name must be 1 to %d bytes", ErrInvalidName, MaxNameLen)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: not UTF-8", ErrInvalidName)
	}
	segs := strings.Split(name, string(Separator))
	for _, s := range segs {
		if err := validSegment(s); err != nil {
			return err
		}
	}
	switch segs[0] {
	case userRoot:
		if len(segs) < 3 {
			return fmt.Errorf("%w: %q names no folder", ErrInvalidName, name)
		}
		if u, err := CanonicalUser(segs[1]); err != nil || u != segs[1] {
			return fmt.Errorf("%w: bad user in %q", ErrInvalidName, name)
		}
		if strings.EqualFold(segs[2], inbox) && segs[2] != inbox {
			return fmt.Errorf("%w: %q: INBOX must be upper case", ErrInvalidName, name)
		}
		// A personal folder named like a namespace would hide it: its
		// external name would lead to the namespace instead.
		if strings.EqualFold(segs[2], OtherUsersPrefix) || strings.EqualFold(segs[2], SharedPrefix) {
			return fmt.Errorf("%w: %q: %q is a namespace", ErrInvalidName, name, segs[2])
		}
	case sharedRoot:
		if len(segs) < 2 {
			return fmt.Errorf("%w: %q names no folder", ErrInvalidName, name)
		}
	default:
		return fmt.Errorf("%w: %q is in no namespace", ErrInvalidName, name)
	}
	return nil
}

func validSegment(s string) error {
	if s == "" || s == "." || s == ".." {
		return fmt.Errorf("%w: empty, '.' or '..' segment", ErrInvalidName)
	}
	if len(s) > MaxSegmentLen {
		return fmt.Errorf("%w: segment longer than %d bytes", ErrInvalidName, MaxSegmentLen)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '*' || r == '%' || r == utf8.RuneError {
			return fmt.Errorf("%w: control or wildcard character %U", ErrInvalidName, r)
		}
	}
	return nil
}

// Inbox is the canonical name of user's INBOX.
func Inbox(user string) string {
	return userRoot + string(Separator) + user + string(Separator) + inbox
}

// Internal turns a name as user sees it (already decoded from modified
// UTF-7 where the client uses it) into the canonical internal name, and
// checks it. "inbox" in any case, alone or as the first segment, is INBOX.
func Internal(user, external string) (string, error) {
	sep := string(Separator)
	var name string
	switch {
	case external == OtherUsersPrefix || external == SharedPrefix:
		return "", fmt.Errorf("%w: %q is a namespace, not a mailbox", ErrInvalidName, external)
	case strings.HasPrefix(external, OtherUsersPrefix+sep):
		rest := external[len(OtherUsersPrefix)+1:]
		owner, path, ok := strings.Cut(rest, sep)
		if !ok {
			return "", fmt.Errorf("%w: %q names no folder", ErrInvalidName, external)
		}
		canon, err := CanonicalUser(owner)
		if err != nil {
			return "", fmt.Errorf("%w: %q", ErrInvalidName, external)
		}
		name = userRoot + sep + canon + sep + canonInbox(path)
	case strings.HasPrefix(external, SharedPrefix+sep):
		name = sharedRoot + sep + external[len(SharedPrefix)+1:]
	default:
		name = userRoot + sep + user + sep + canonInbox(external)
	}
	if err := ValidateName(name); err != nil {
		return "", err
	}
	return name, nil
}

func canonInbox(path string) string {
	first, rest, more := strings.Cut(path, string(Separator))
	if !strings.EqualFold(first, inbox) {
		return path
	}
	if more {
		return inbox + string(Separator) + rest
	}
	return inbox
}

// External is the name user sees for the canonical internal name.
func External(user, internal string) string {
	sep := string(Separator)
	if rest, ok := strings.CutPrefix(internal, sharedRoot+sep); ok {
		return SharedPrefix + sep + rest
	}
	rest, ok := strings.CutPrefix(internal, userRoot+sep)
	if !ok {
		return internal
	}
	owner, path, _ := strings.Cut(rest, sep)
	if owner == user {
		return path
	}
	return OtherUsersPrefix + sep + owner + sep + path
}

// Owner is the user whose personal namespace holds internal, or "" for a
// shared mailbox.
func Owner(internal string) string {
	rest, ok := strings.CutPrefix(internal, userRoot+string(Separator))
	if !ok {
		return ""
	}
	owner, _, _ := strings.Cut(rest, string(Separator))
	return owner
}

// Parent is the name one level up, or "" at the top of a namespace.
func Parent(internal string) string {
	i := strings.LastIndexByte(internal, Separator)
	if i < 0 {
		return ""
	}
	parent := internal[:i]
	if parent == sharedRoot || strings.Count(parent, string(Separator)) < 2 && strings.HasPrefix(parent, userRoot+string(Separator)) {
		return ""
	}
	return parent
}
