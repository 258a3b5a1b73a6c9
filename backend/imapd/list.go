package imapd

import (
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

const delim = rune(fsm.Separator)

// List is LIST and LSUB, answered from the local directory copy: every
// mailbox the user may see, on any backend. Frontends normally answer LIST
// themselves; this serves clients that talk to the backend directly.
func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if len(patterns) == 0 {
		// An empty pattern asks for the hierarchy delimiter only.
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delim})
	}
	ctx, cancel := s.ctx()
	defer cancel()
	v, err := s.srv.cfg.Directory.Read(ctx, directory.Fresh)
	if err != nil {
		return s.imapError(err)
	}
	subscribed := make(map[string]bool)
	for _, name := range v.Subscriptions(s.user) {
		subscribed[name] = true
	}
	if options.SelectSubscribed {
		return s.listSubscribed(v, w, ref, patterns, options, subscribed)
	}
	for _, prefix := range s.listRoots(ref, patterns) {
		var err error
		v.Mailboxes(prefix, func(m *fsm.Mailbox) bool {
			if m.State != fsm.Active || !s.has(m, rightLookup) {
				return true
			}
			external := fsm.External(s.user, m.Name)
			if !matchAny(external, ref, patterns) {
				return true
			}
			data := s.listData(v, m, external, options, subscribed[m.Name])
			if data == nil {
				return true
			}
			err = w.WriteList(data)
			return err == nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// listRoots is the directory prefixes a LIST must scan: the user's own
// mailboxes, and other users' and shared ones only when a pattern can
// reach their namespace.
func (s *session) listRoots(ref string, patterns []string) []string {
	sep := string(fsm.Separator)
	roots := []string{"user" + sep + s.user + sep}
	others, shared := false, false
	for _, p := range patterns {
		others = others || mayReach(ref, p, fsm.OtherUsersPrefix+sep)
		shared = shared || mayReach(ref, p, fsm.SharedPrefix+sep)
	}
	if others {
		// Scanning every user's mailboxes is the price of LIST "*" on a
		// backend; the rights check keeps out what the user may not see.
		roots[0] = "user" + sep
	}
	if shared {
		roots = append(roots, "shared"+sep)
	}
	return roots
}

// mayReach reports whether names below prefix could match pattern: the
// literal start of the pattern (before any wildcard) and prefix agree as
// far as both go.
func mayReach(ref, pattern, prefix string) bool {
	full := pattern
	if !strings.HasPrefix(pattern, string(delim)) && ref != "" {
		full = strings.TrimSuffix(ref, string(delim)) + string(delim) + pattern
	}
	literal := full
	if i := strings.IndexAny(full, "*%"); i >= 0 {
		literal = full[:i]
	}
	n := min(len(literal), len(prefix))
	return literal[:n] == prefix[:n]
}

func matchAny(name, ref string, patterns []string) bool {
	for _, p := range patterns {
		if imapserver.MatchList(name, delim, ref, p) {
			return true
		}
	}
	return false
}

// listData is the LIST answer for one mailbox, or nil if a selection
// option leaves it out.
func (s *session) listData(v *fsm.View, m *fsm.Mailbox, external string, options *imap.ListOptions, subscribed bool) *imap.ListData {
	if options.SelectSpecialUse && m.SpecialUse == "" {
		return nil
	}
	data := &imap.ListData{Mailbox: external, Delim: delim}
	if subscribed && (options.ReturnSubscribed || options.SelectSubscribed) {
		data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
	}
	if m.SpecialUse != "" && (options.ReturnSpecialUse || options.SelectSpecialUse) {
		data.Attrs = append(data.Attrs, imap.MailboxAttr(m.SpecialUse))
	}
	if options.ReturnChildren {
		if hasChildren(v, m.Name) {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
		} else {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
		}
	}
	if options.ReturnStatus != nil && m.Primary.Backend == s.srv.cfg.BackendID && s.has(m, rightRead) {
		if st, err := s.statusData(m, options.ReturnStatus); err == nil {
			st.Mailbox = external
			data.Status = st
		}
	}
	return data
}

func hasChildren(v *fsm.View, name string) bool {
	found := false
	v.Mailboxes(name+string(fsm.Separator), func(m *fsm.Mailbox) bool {
		found = m.State == fsm.Active
		return !found
	})
	return found
}

// listSubscribed is LSUB and LIST (SUBSCRIBED): subscriptions are kept
// for names that no longer exist, which are marked so.
func (s *session) listSubscribed(v *fsm.View, w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions, subscribed map[string]bool) error {
	for _, name := range v.Subscriptions(s.user) {
		external := fsm.External(s.user, name)
		if !matchAny(external, ref, patterns) {
			continue
		}
		m, ok := v.Mailbox(name)
		var data *imap.ListData
		if ok && m.State == fsm.Active && s.has(m, rightLookup) {
			data = s.listData(v, m, external, options, true)
		} else {
			data = &imap.ListData{Mailbox: external, Delim: delim,
				Attrs: []imap.MailboxAttr{imap.MailboxAttrSubscribed, imap.MailboxAttrNonExistent}}
		}
		if data == nil {
			continue
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	return nil
}
