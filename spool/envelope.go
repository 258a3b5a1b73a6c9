package spool

import (
	"mime"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// extractEnvelope is go-imap's envelope with RFC 5322 group syntax kept:
// go-imap flattens a group into its members and drops an empty one
// (`undisclosed-recipients:;`), where RFC 3501 section 7.4.2 marks the
// start of a group with (NIL NIL "name" NIL) and its end with
// (NIL NIL NIL NIL). imap.Address{Mailbox: name} and imap.Address{} are
// those markers as go-imap writes them.
func extractEnvelope(h textproto.Header) *imap.Envelope {
	env := imapserver.ExtractEnvelope(h)
	for _, f := range []struct {
		key  string
		list *[]imap.Address
	}{
		{"From", &env.From}, {"Sender", &env.Sender}, {"Reply-To", &env.ReplyTo},
		{"To", &env.To}, {"Cc", &env.Cc}, {"Bcc", &env.Bcc},
	} {
		raw := h.Get(f.key)
		if hasGroup(raw) {
			*f.list = groupedAddresses(raw)
		}
	}
	return env
}

// addressItem is one top-level piece of an address list: a run of plain
// addresses, or a group's name and members.
type addressItem struct {
	group   bool
	name    string
	members string
}

// splitGroups cuts an address list at the colons and semicolons that are
// outside quoted strings, comments and angle brackets (a route address
// holds colons too).
func splitGroups(raw string) []addressItem {
	var (
		items         []addressItem
		quoted        bool
		comment       int
		angle         int
		start         int
		inGroup       bool
		name, pending string
	)
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case quoted:
			if c == '\\' {
				i++
			} else if c == '"' {
				quoted = false
			}
		case comment > 0:
			if c == '\\' {
				i++
			} else if c == '(' {
				comment++
			} else if c == ')' {
				comment--
			}
		case c == '"':
			quoted = true
		case c == '(':
			comment++
		case c == '<':
			angle++
		case c == '>' && angle > 0:
			angle--
		case angle > 0:
		case c == ':' && !inGroup:
			// The phrase before the colon follows the last comma.
			before := raw[start:i]
			cut := strings.LastIndexByte(before, ',')
			pending = before[:max(cut, 0)]
			if cut >= 0 && strings.TrimSpace(pending) != "" {
				items = append(items, addressItem{members: pending})
			}
			name = before[cut+1:]
			inGroup, start = true, i+1
		case c == ';' && inGroup:
			items = append(items, addressItem{group: true, name: name, members: raw[start:i]})
			inGroup, start = false, i+1
		}
	}
	if rest := raw[start:]; strings.TrimSpace(strings.Trim(rest, " \t,")) != "" {
		items = append(items, addressItem{group: inGroup, name: name, members: rest})
	}
	return items
}

func hasGroup(raw string) bool {
	for _, it := range splitGroups(raw) {
		if it.group {
			return true
		}
	}
	return false
}

// groupedAddresses is the envelope address list of raw with group markers.
func groupedAddresses(raw string) []imap.Address {
	var out []imap.Address
	for _, it := range splitGroups(raw) {
		if it.group {
			out = append(out, imap.Address{Mailbox: groupName(it.name)})
		}
		out = append(out, plainAddresses(it.members)...)
		if it.group {
			out = append(out, imap.Address{})
		}
	}
	return out
}

// plainAddresses parses addresses outside any group, as go-imap does.
func plainAddresses(s string) []imap.Address {
	s = strings.Trim(strings.TrimSpace(s), ",")
	if strings.TrimSpace(s) == "" {
		return nil
	}
	addrs, _ := mail.ParseAddressList(s)
	var out []imap.Address
	for _, a := range addrs {
		mailbox, host, ok := strings.Cut(a.Address, "@")
		if ok {
			out = append(out, imap.Address{Name: a.Name, Mailbox: mailbox, Host: host})
		}
	}
	return out
}

// groupName is the display name of a group: unquoted, encoded words
// decoded, comments kept as they are.
func groupName(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = strings.ReplaceAll(s[1:len(s)-1], `\`, "")
	}
	if dec, err := new(mime.WordDecoder).DecodeHeader(s); err == nil {
		s = dec
	}
	return s
}
