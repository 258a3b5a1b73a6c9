package imapd

import (
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/rookery-mail/rookery/spool"
)

// keywordSet is the keywords a mailbox has had, in the order first seen
// and compared without case (RFC 3501 section 2.3.2). It only grows: a
// FLAGS response may name keywords no message has any more.
type keywordSet struct {
	list []imap.Flag
	has  map[string]bool
}

func isKeyword(f imap.Flag) bool {
	return !strings.HasPrefix(string(f), `\`)
}

// add takes in the keywords of flags and reports whether one was new.
func (k *keywordSet) add(flags []imap.Flag) bool {
	added := false
	for _, f := range flags {
		if !isKeyword(f) || k.knows(f) {
			continue
		}
		if k.has == nil {
			k.has = make(map[string]bool)
		}
		k.has[strings.ToLower(string(f))] = true
		k.list = append(k.list, f)
		added = true
	}
	return added
}

func (k *keywordSet) knows(f imap.Flag) bool {
	return k.has[strings.ToLower(string(f))]
}

// knowsAll reports whether every keyword of flags is in the set.
func (k *keywordSet) knowsAll(flags []imap.Flag) bool {
	for _, f := range flags {
		if isKeyword(f) && !k.knows(f) {
			return false
		}
	}
	return true
}

// clone is a copy that later adds to k do not change.
func (k *keywordSet) clone() keywordSet {
	out := keywordSet{list: append([]imap.Flag(nil), k.list...), has: make(map[string]bool, len(k.has))}
	for f := range k.has {
		out.has[f] = true
	}
	return out
}

// mailboxFlags is the FLAGS list: the system flags and the keywords.
func (k *keywordSet) mailboxFlags() []imap.Flag {
	return append(append([]imap.Flag(nil), systemFlags...), k.list...)
}

// filter drops from flags the keywords not in k, for a FETCH that a
// FLAGS response naming them has not preceded yet; the FETCH FLAGS that
// the tracker queued after that FLAGS brings them to the client.
func (k *keywordSet) filter(flags []imap.Flag) []imap.Flag {
	if k.knowsAll(flags) {
		return flags
	}
	out := make([]imap.Flag, 0, len(flags))
	for _, f := range flags {
		if !isKeyword(f) || k.knows(f) {
			out = append(out, f)
		}
	}
	return out
}

// shownFlags is the FLAGS item of a FETCH for rec in this session: less
// the keywords not yet announced to it, plus \Recent where it is recent.
func (s *session) shownFlags(rec spool.Message) []imap.Flag {
	return s.sel.recent.withRecent(rec.UID, s.sel.told.filter(rec.Flags))
}
