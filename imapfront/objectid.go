package imapfront

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/condstore"
)

// OBJECTID (RFC 8474), answered by the frontend, which offers it with
// CONDSTORE (it reads messages' GUIDs through the same API).
//
// - MAILBOXID is the directory's id of the mailbox, which RENAME keeps
//   and a mailbox created again under the same name does not: "M" and the
//   id. CREATE's OK and SELECT/EXAMINE carry it; STATUS and LIST-STATUS
//   answer it.
// - EMAILID is "E" and the first 96 bits (24 hex digits) of the body's
//   GUID, the SHA-256 of its content: a message keeps it through COPY and
//   MOVE, on any backend, as the GUID is the content's. Two deliveries of
//   one same content (every header alike) share it, which RFC 8474
//   section 5.1 allows; Cyrus does the same.
// - THREADID is NIL: Rookery keeps no threads (RFC 8474 section 5.2 lets a
//   server say NIL), and SEARCH THREADID matches nothing.

// mailboxID is the MAILBOXID of the mailbox with directory id id.
func mailboxID(id uint64) string { return "M" + strconv.FormatUint(id, 10) }

// emailID is the EMAILID of a message whose body has guid.
func emailID(guid string) string {
	if len(guid) < 24 {
		return "E" + guid
	}
	return "E" + guid[:24]
}

// objectIDOffered reports whether the frontend offers OBJECTID.
func (s *session) objectIDOffered() bool { return s.condstoreOffered() }

// statusExtras answers the STATUS items the backend does not know,
// HIGHESTMODSEQ (RFC 7162 section 3.1.2.2) and MAILBOXID (RFC 8474
// section 4.3), for mailbox m on bc: they are read here, HIGHESTMODSEQ
// before the STATUS, and the rest goes to the backend, whose STATUS
// response gets them added. A STATUS of these alone is answered here
// (cmd nil).
func (s *session) statusExtras(cmd *Command, a *argReader, bc *backendConn, m *fsm.Mailbox) (*Command, error) {
	at := a.pos
	items, err := a.list(false)
	if err != nil {
		return cmd, nil // the backend's to answer
	}
	rest, extra, err := s.statusItems(items, bc.id, m)
	if err != nil || extra == "" {
		return cmd, err
	}
	if err := a.done(); err != nil {
		return cmd, err
	}
	if len(rest) == 0 {
		s.untagged("STATUS %s (%s)", s.externalName(m.Name), extra)
		s.ok(cmd.Tag, "STATUS completed")
		return nil, nil
	}
	out := cutCommand(cmd, at)
	out.Raw = append(out.Raw[:len(out.Raw)-2], " ("+strings.Join(rest, " ")+")\r\n"...)
	s.cmdEdit = func(line []byte) []byte { return withStatusItems(line, extra) }
	return out, nil
}

// statusItems splits STATUS items into those for the backend and the
// answer to the others, extra ("" when there are none).
func (s *session) statusItems(items []string, backendID string, m *fsm.Mailbox) (rest []string, extra string, err error) {
	var ours []string
	for _, it := range items {
		switch strings.ToUpper(it) {
		case "HIGHESTMODSEQ":
			if err := s.enableCondstore(); err != nil {
				return nil, "", err
			}
			r, err := s.readModSeqsOf(backendID, m.ID, condstore.ReadRequest{})
			if err != nil {
				return nil, "", err
			}
			ours = append(ours, fmt.Sprintf("HIGHESTMODSEQ %d", r.HighestModSeq))
		case "MAILBOXID":
			ours = append(ours, "MAILBOXID ("+mailboxID(m.ID)+")")
		default:
			rest = append(rest, it)
		}
	}
	return rest, strings.Join(ours, " "), nil
}

// withStatusItems adds extra to a STATUS response's list.
func withStatusItems(line []byte, extra string) []byte {
	if !bytes.HasPrefix(line, []byte("* STATUS ")) || !bytes.HasSuffix(line, []byte(")\r\n")) {
		return line
	}
	sep := " "
	if bytes.HasSuffix(line, []byte("()\r\n")) {
		sep = ""
	}
	return append(slices.Clip(line[:len(line)-3]), sep+extra+")\r\n"...)
}

// withMailboxID puts MAILBOXID into CREATE's tagged OK (RFC 8474 section
// 4.1), unless it has a response code already.
func withMailboxID(tagged []byte, m *fsm.Mailbox) []byte {
	tag, rest, _ := bytes.Cut(tagged, []byte(" "))
	text, ok := bytes.CutPrefix(rest, []byte("OK "))
	if !ok || bytes.HasPrefix(text, []byte("[")) {
		return tagged
	}
	return fmt.Appendf(nil, "%s OK [MAILBOXID (%s)] %s", tag, mailboxID(m.ID), text)
}
