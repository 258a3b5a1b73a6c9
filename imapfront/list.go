package imapfront

import (
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// LIST, LSUB, NAMESPACE, SUBSCRIBE and UNSUBSCRIBE are answered from the
// local copy of the directory: no backend is involved except for LIST's
// RETURN (STATUS ...).

// listOptions are the LIST-EXTENDED (RFC 5258) options of one command.
type listOptions struct {
	subscribedOnly bool // selection SUBSCRIBED
	recursive      bool // selection RECURSIVEMATCH
	specialOnly    bool // selection SPECIAL-USE
	retSubscribed  bool
	retChildren    bool
	status         string // RETURN (STATUS (...)) items, raw
	// extendedSyntax: the command had selection or return options (RFC
	// 5258), so a name that is no mailbox is \NonExistent, not \Noselect.
	extendedSyntax bool
}

// listEntry is one name LIST may show.
type listEntry struct {
	mbox        *fsm.Mailbox // nil for an implied parent or a subscription without a mailbox
	children    bool
	subscribed  bool
	subChildren bool // a descendant is subscribed (RECURSIVEMATCH)
}

func (s *session) cmdList(cmd *Command) bool {
	opts, ref, patterns, err := parseList(cmd)
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	if len(patterns) == 1 && patterns[0] == "" && !opts.subscribedOnly {
		s.untagged(`LIST (\Noselect) "/" ""`)
		s.ok(cmd.Tag, "LIST completed")
		return true
	}
	for i, p := range patterns {
		if patterns[i], err = s.decodeName(ref + p); err != nil {
			s.fail(cmd.Tag, err)
			return true
		}
		patterns[i] = canonInboxPattern(patterns[i])
	}
	// Synced: LIST shows every change acknowledged before it began, on
	// any frontend; the LISTs in flight share one ReadIndex.
	v, err := s.read(directory.Synced)
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	var stat []*fsm.Mailbox
	l := s.listEntries(v, patterns)
	defer l.release()
	for _, name := range l.names {
		e := l.entries[name]
		if !matchAny(patterns, name) || !opts.wants(e) {
			continue
		}
		b := append(s.bw.AvailableBuffer(), "* LIST ("...)
		b = opts.appendAttributes(b, e)
		b = append(b, `) "/" `...)
		b = s.appendName(b, name)
		b = append(b, opts.extended(e)...)
		s.bw.Write(append(b, "\r\n"...))
		if e.mbox != nil && opts.status != "" {
			stat = append(stat, e.mbox)
		}
	}
	for _, m := range stat {
		if err := s.relayStatus(m, opts.status); err != nil {
			s.log.Info("LIST-STATUS failed", "mailbox", m.Name, "err", err)
		}
	}
	s.ok(cmd.Tag, "LIST completed")
	return true
}

func (o *listOptions) wants(e *listEntry) bool {
	switch {
	case o.subscribedOnly:
		return e.subscribed || o.recursive && e.subChildren
	case o.specialOnly:
		return e.mbox != nil && e.mbox.SpecialUse != ""
	}
	return e.mbox != nil || e.children
}

// appendAttributes appends e's name attributes, separated by spaces.
func (o *listOptions) appendAttributes(b []byte, e *listEntry) []byte {
	n := len(b)
	attr := func(a string) {
		if len(b) > n {
			b = append(b, ' ')
		}
		b = append(b, a...)
	}
	switch {
	case e.mbox == nil && (!e.children || o.extendedSyntax):
		attr(`\NonExistent`)
	case e.mbox == nil:
		attr(`\Noselect`)
	}
	if e.children {
		attr(`\HasChildren`)
	} else if e.mbox != nil {
		attr(`\HasNoChildren`)
	}
	if e.subscribed && (o.retSubscribed || o.subscribedOnly) {
		attr(`\Subscribed`)
	}
	if e.mbox != nil && e.mbox.SpecialUse != "" {
		attr(e.mbox.SpecialUse)
	}
	return b
}

func (o *listOptions) extended(e *listEntry) string {
	if o.subscribedOnly && o.recursive && e.subChildren && !e.subscribed {
		return ` ("CHILDINFO" ("SUBSCRIBED"))`
	}
	return ""
}

// listEntries collects every name the user may see (existing mailboxes,
// their implied parents, subscriptions), keyed by external name, with the
// names in order. patterns prune the namespaces scanned. It reads the
// user's own subtree, the mailboxes that grant the user or "anyone"
// something, and shared/: its cost follows what the user may see, not the
// size of the directory.
func (s *session) listEntries(dir *fsm.View, patterns []string) *listing {
	l := listings.Get().(*listing)
	entry := l.entry
	add := func(m *fsm.Mailbox) bool {
		if !visible(s.user, m) {
			return true
		}
		name := fsm.External(s.user, m.Name)
		entry(name).mbox = m
		for p := parentOf(name); p != ""; p = parentOf(p) {
			entry(p).children = true
		}
		return true
	}
	dir.Mailboxes("user/"+s.user+"/", add)
	if mayMatchPrefix(patterns, fsm.OtherUsersPrefix+"/") {
		// Another user's mailbox is visible only through an ACL entry
		// for this user or "anyone": the directory's grants index finds
		// those without a walk of every user's mailboxes.
		other := func(m *fsm.Mailbox) bool {
			if fsm.Owner(m.Name) == "" || fsm.Owner(m.Name) == s.user {
				return true // shared/ is listed below, the user's own above
			}
			return add(m)
		}
		dir.Granted(s.user, other)
		dir.Granted(fsm.AnyoneIdentifier, other)
	}
	if mayMatchPrefix(patterns, fsm.SharedPrefix+"/") {
		dir.Mailboxes("shared/", add)
	}
	for _, sub := range dir.Subscriptions(s.user) {
		name := fsm.External(s.user, sub)
		entry(name).subscribed = true
		for p := parentOf(name); p != ""; p = parentOf(p) {
			entry(p).subChildren = true
		}
	}
	// The names went in mostly in order (a walk of the user's subtree
	// first), which the sort is quick to finish.
	slices.Sort(l.names)
	return l
}

// listing is what one LIST may show: entries keyed by external name, and
// the names in order. Listings are pooled, so that a LIST allocates little.
type listing struct {
	entries map[string]*listEntry
	names   []string
	slab    []listEntry // entries are taken from it, not allocated one by one
	used    int
}

var listings = sync.Pool{New: func() any { return &listing{entries: make(map[string]*listEntry, 128)} }}

func (l *listing) entry(name string) *listEntry {
	if e := l.entries[name]; e != nil {
		return e
	}
	if l.used == len(l.slab) {
		l.slab, l.used = make([]listEntry, max(64, 2*len(l.slab))), 0
	}
	e := &l.slab[l.used]
	l.used++
	l.entries[name] = e
	l.names = append(l.names, name)
	return e
}

// release returns l to the pool, emptied, unless it grew past what a
// LIST commonly shows.
func (l *listing) release() {
	if len(l.entries) > 1024 {
		return
	}
	clear(l.entries)
	clear(l.names)
	l.names = l.names[:0]
	clear(l.slab[:l.used])
	l.used = 0
	listings.Put(l)
}

func parentOf(name string) string {
	i := strings.LastIndexByte(name, '/')
	if i <= 0 {
		return ""
	}
	return name[:i]
}

// canonInboxPattern spells a leading "inbox" segment as INBOX, as names are.
func canonInboxPattern(p string) string {
	first, rest, more := strings.Cut(p, "/")
	if !strings.EqualFold(first, "INBOX") {
		return p
	}
	if more {
		return "INBOX/" + rest
	}
	return "INBOX"
}

// mayMatchPrefix reports whether some pattern could match a name beginning
// with prefix.
func mayMatchPrefix(patterns []string, prefix string) bool {
	for _, p := range patterns {
		i := 0
		for ; i < len(p) && i < len(prefix); i++ {
			if p[i] == '*' || p[i] == '%' || p[i] != prefix[i] {
				break
			}
		}
		if i == len(p) || i == len(prefix) || p[i] == '*' || p[i] == '%' {
			return true
		}
	}
	return false
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if p == "*" || matchPattern(p, name) {
			return true
		}
	}
	return false
}

// matchPattern matches an IMAP LIST pattern: '*' matches anything, '%'
// anything but the hierarchy separator. Dynamic programming keeps it
// linear in len(p)*len(name) whatever the wildcards.
func matchPattern(p, name string) bool {
	// ok[j]: p[:i] matches name[:j].
	ok := make([]bool, len(name)+1)
	next := make([]bool, len(name)+1)
	ok[0] = true
	for i := 0; i < len(p); i++ {
		c := p[i]
		clear(next)
		for j := 0; j <= len(name); j++ {
			switch c {
			case '*':
				next[j] = ok[j] || j > 0 && next[j-1]
			case '%':
				next[j] = ok[j] || j > 0 && next[j-1] && name[j-1] != '/'
			default:
				next[j] = j > 0 && ok[j-1] && name[j-1] == c
			}
		}
		ok, next = next, ok
	}
	return ok[len(name)]
}

func (s *session) cmdLsub(cmd *Command) bool {
	a := cmd.argReader()
	ref, err := a.astring()
	var pat string
	if err == nil {
		pat, err = a.astring()
	}
	if err == nil {
		err = a.done()
	}
	if err == nil {
		pat, err = s.decodeName(ref + pat)
	}
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	pat = canonInboxPattern(pat)
	v, err := s.read(directory.Synced) // as LIST

	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	for _, l := range lsubLines(pat, v.Subscriptions(s.user), s.user) {
		s.untagged(`LSUB (%s) "/" %s`, l.attrs, s.quoteName(l.name))
	}
	s.ok(cmd.Tag, "LSUB completed")
	return true
}

type lsubLine struct{ name, attrs string }

// lsubLines is what LSUB pat answers, in name order: the subscriptions it
// matches and, \Noselect, each parent that is not subscribed itself,
// that pat matches, of a subscription that pat does not (RFC 3501 section
// 6.3.9: "%" lists foo for a subscribed foo/bar).
func lsubLines(pat string, subs []string, user string) []lsubLine {
	subscribed := make(map[string]bool, len(subs))
	for _, sub := range subs {
		subscribed[fsm.External(user, sub)] = true
	}
	out := make(map[string]string)
	for name := range subscribed {
		if matchPattern(pat, name) {
			out[name] = ""
			continue
		}
		for p := parentOf(name); p != ""; p = parentOf(p) {
			if !subscribed[p] && matchPattern(pat, p) {
				out[p] = `\Noselect`
			}
		}
	}
	lines := make([]lsubLine, 0, len(out))
	for name, attrs := range out {
		lines = append(lines, lsubLine{name, attrs})
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i].name < lines[j].name })
	return lines
}

func (s *session) cmdNamespace(cmd *Command) bool {
	if err := cmd.argReader().done(); err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	s.untagged(`NAMESPACE (("" "/")) (("%s/" "/")) (("%s/" "/"))`, fsm.OtherUsersPrefix, fsm.SharedPrefix)
	s.ok(cmd.Tag, "NAMESPACE completed")
	return true
}

// cmdSubscribe subscribes or unsubscribes; IMAP allows subscribing to names
// that do not exist, so only the name's form is checked.
func (s *session) cmdSubscribe(cmd *Command) bool {
	a := cmd.argReader()
	name, err := s.mailboxArg(a)
	if err == nil {
		err = a.done()
	}
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	var c fsm.Command = fsm.Subscribe{User: s.user, Name: name}
	if cmd.Name == "UNSUBSCRIBE" {
		c = fsm.Unsubscribe{User: s.user, Name: name}
	}
	if err := s.apply(c); err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	s.ok(cmd.Tag, cmd.Name+" completed")
	return true
}
