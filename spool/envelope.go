package spool

import (
	"mime"
	netmail "net/mail"
	"strings"
	"time"

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
	env.Date = withZoneName(h.Get("Date"), env.Date)
	return env
}

// obsoleteZones are the zone names of RFC 5322 section 4.3 with their
// offsets in hours.
var obsoleteZones = map[string]int{
	"UT": 0, "GMT": 0,
	"EST": -5, "EDT": -4, "CST": -6, "CDT": -5,
	"MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
}

// withZoneName is d, a Date header's value as net/mail read it, at the
// offset RFC 5322 gives a zone name the header ends with: net/mail takes
// a name from the local zone (Sydney's EST is +1000) or as +0000 when the
// local zone has no such name. A numeric offset is left as it is, whatever
// the local zone calls it.
func withZoneName(raw string, d time.Time) time.Time {
	raw = strings.TrimSpace(raw)
	head, zone := "", raw
	if i := strings.LastIndexByte(raw, ' '); i >= 0 {
		head, zone = raw[:i+1], raw[i+1:]
	}
	zone = strings.ToUpper(zone)
	hours, ok := obsoleteZones[zone]
	if !ok {
		return d
	}
	if d.IsZero() {
		// net/mail knows the names in capitals only ("est" fails).
		var err error
		if d, err = netmail.ParseDate(head + zone); err != nil {
			return d
		}
	}
	y, mo, day := d.Date()
	h, mi, sec := d.Clock()
	return time.Date(y, mo, day, h, mi, sec, d.Nanosecond(), time.FixedZone(zone, hours*3600))
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
