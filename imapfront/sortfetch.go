package imapfront

import (
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
)

// The sort keys come from the cheapest FETCH items that hold them: the
// backend answers ENVELOPE (subject, sent date, addresses), INTERNALDATE
// and RFC822.SIZE from its index, without opening a message. Only
// THREAD=REFERENCES reads message headers, and only the three it needs;
// it reads Message-ID and In-Reply-To there too rather than from the
// envelope, so that all three go through one parser (msgid.go).

// refFields is the header section THREAD=REFERENCES fetches.
const refFields = "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID IN-REPLY-TO REFERENCES)]"

// fetchItems is the FETCH item list for q.
func (q *sortRequest) fetchItems() string {
	var env, date, size bool
	if q.thread != "" {
		env, date = true, true // base subject and sent date
	}
	for _, c := range q.criteria {
		switch c.key {
		case keyArrival:
			date = true
		case keyDate:
			env, date = true, true // INTERNALDATE stands in for a Date that is not there
		case keySize:
			size = true
		default:
			env = true
		}
	}
	items := []string{"UID"}
	if env {
		items = append(items, "ENVELOPE")
	}
	if date {
		items = append(items, "INTERNALDATE")
	}
	if size {
		items = append(items, "RFC822.SIZE")
	}
	if q.thread == "REFERENCES" {
		items = append(items, refFields)
	}
	return strings.Join(items, " ")
}

// maxFetchSet bounds the message set of one internal FETCH: go-imap's
// server drops a connection whose command passes 50 KiB, and a search
// that matches every other message of a large mailbox answers with a
// longer set than that. (A variable for the tests.)
var maxFetchSet = 16 << 10

// fetchSortKeys fetches what q needs of the messages in set, which the
// search answered. A message expunged since gives no data and is left
// out. Every other response is relayed to the client.
func (s *session) fetchSortKeys(bc *backendConn, q *sortRequest, set string) ([]*sortMsg, error) {
	var msgs []*sortMsg
	for _, part := range splitSet(set, maxFetchSet) {
		got, err := s.fetchSortPart(bc, q, part)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, got...)
	}
	return msgs, nil
}

// splitSet cuts a sequence set at commas into sets of at most max bytes
// (one longer element stays whole).
func splitSet(set string, max int) []string {
	var parts []string
	for len(set) > max {
		cut := strings.LastIndexByte(set[:max+1], ',')
		if cut <= 0 {
			cut = strings.IndexByte(set, ',')
			if cut < 0 {
				break
			}
		}
		parts = append(parts, set[:cut])
		set = set[cut+1:]
	}
	return append(parts, set)
}

func (s *session) fetchSortPart(bc *backendConn, q *sortRequest, set string) ([]*sortMsg, error) {
	var msgs []*sortMsg
	var bad error
	tagged, err := bc.run(uidPrefix(q.uid)+"FETCH "+set+" ("+q.fetchItems()+")", func(resp []byte) error {
		f, ok, perr := parseFetch(resp)
		if ok && perr == nil && isSortData(f) {
			m, merr := q.message(f)
			if merr != nil {
				bad = merr
				return nil
			}
			msgs = append(msgs, m)
			s.relayFlags(f, m.uid)
			return nil
		}
		if perr != nil && bad == nil {
			bad = perr
		}
		s.pass(resp)
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case status(tagged) != "OK":
		return nil, fmt.Errorf("%w: fetch for sort: %q", ErrBackendProtocol, tagged)
	case bad != nil:
		return nil, bad
	}
	return msgs, nil
}

// isSortData: the response holds an item the internal FETCH asked for,
// which no update from another session does (those carry FLAGS).
func isSortData(f fetchResponse) bool {
	for _, k := range []string{"ENVELOPE", "INTERNALDATE", "RFC822.SIZE", "BODY[HEADER.FIELDS"} {
		if _, ok := f.item(k); ok {
			return true
		}
	}
	return false
}

// relayFlags passes on flags a backend put into the internal FETCH's
// response, which the client must hear of; the backend sends none unasked
// today, but nothing in the protocol forbids it.
func (s *session) relayFlags(f fetchResponse, uid uint32) {
	if v, ok := f.items["FLAGS"]; ok {
		s.pass(fmt.Appendf(nil, "* %d FETCH (UID %d FLAGS %s)\r\n", f.seq, uid, v.raw))
	}
}

// message turns one FETCH response into the message's sort keys.
func (q *sortRequest) message(f fetchResponse) (*sortMsg, error) {
	v, ok := f.items["UID"]
	uid, err := strconv.ParseUint(v.str(), 10, 32)
	if !ok || err != nil || uid == 0 {
		return nil, fmt.Errorf("%w: FETCH for sort without a UID", ErrBackendProtocol)
	}
	m := &sortMsg{num: f.seq, uid: uint32(uid)}
	if q.uid {
		m.num = m.uid
	}
	if v, ok := f.items["INTERNALDATE"]; ok {
		if m.arrival, err = time.Parse("_2-Jan-2006 15:04:05 -0700", v.str()); err != nil {
			return nil, fmt.Errorf("%w: INTERNALDATE %q", ErrBackendProtocol, v.str())
		}
	}
	if v, ok := f.items["RFC822.SIZE"]; ok {
		if m.size, err = strconv.ParseInt(v.str(), 10, 64); err != nil {
			return nil, fmt.Errorf("%w: RFC822.SIZE %q", ErrBackendProtocol, v.str())
		}
	}
	m.sent = m.arrival
	if v, ok := f.items["ENVELOPE"]; ok {
		if err := m.readEnvelope(v); err != nil {
			return nil, err
		}
	}
	if v, ok := f.item("BODY[HEADER.FIELDS"); ok {
		m.readRefFields(v.str())
	}
	return m, nil
}

// readEnvelope takes the sent date, base subject and first addresses from
// an ENVELOPE (RFC 3501 section 7.4.2): date, subject, from, sender,
// reply-to, to, cc, bcc, in-reply-to, message-id.
func (m *sortMsg) readEnvelope(v respValue) error {
	if v.kind != respList || len(v.list) < 10 {
		return fmt.Errorf("%w: ENVELOPE %q", ErrBackendProtocol, v.raw)
	}
	env := v.list
	// RFC 5256 section 2.2: a Date that is missing or does not parse
	// leaves the internal date.
	if d, err := mail.ParseDate(env[0].str()); err == nil {
		m.sent = d
	}
	base, reply := baseSubject(env[1].str())
	m.base, m.reply = casemapKey(base), reply
	m.from = casemapKey(firstMailbox(env[2]))
	m.to = casemapKey(firstMailbox(env[5]))
	m.cc = casemapKey(firstMailbox(env[6]))
	return nil
}

// firstMailbox is the addr-mailbox of an address list's first address
// (RFC 5256 section 3: CC, FROM, TO). For a group that is the group's
// name, which its first address structure carries there.
func firstMailbox(v respValue) string {
	if v.kind != respList || len(v.list) == 0 {
		return ""
	}
	a := v.list[0]
	if a.kind != respList || len(a.list) < 4 {
		return ""
	}
	return a.list[2].str()
}

// readRefFields reads the Message-ID, References and In-Reply-To header
// fields (the first of each, unfolded) into the message's id and
// references: those of References, or if it has none, the first id in
// In-Reply-To (RFC 5256 section 3, REFERENCES).
func (m *sortMsg) readRefFields(header string) {
	var inReplyTo string
	seen := map[string]bool{}
	for _, f := range headerFields(header) {
		name := strings.ToUpper(f[0])
		if seen[name] {
			continue
		}
		seen[name] = true
		switch name {
		case "MESSAGE-ID":
			m.id = firstMsgID(f[1])
		case "REFERENCES":
			m.refs = msgIDs(f[1])
		case "IN-REPLY-TO":
			inReplyTo = firstMsgID(f[1])
		}
	}
	if len(m.refs) == 0 && inReplyTo != "" {
		m.refs = []string{inReplyTo}
	}
}

// headerFields splits a header block into its fields' names and unfolded
// values.
func headerFields(header string) [][2]string {
	var fields [][2]string
	for _, line := range strings.SplitAfter(header, "\n") {
		trimmed := strings.TrimRight(line, "\r\n")
		if trimmed == "" {
			continue
		}
		if (trimmed[0] == ' ' || trimmed[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1][1] += " " + strings.TrimSpace(trimmed)
			continue
		}
		name, value, ok := strings.Cut(trimmed, ":")
		if !ok {
			continue
		}
		fields = append(fields, [2]string{strings.TrimSpace(name), strings.TrimSpace(value)})
	}
	return fields
}
