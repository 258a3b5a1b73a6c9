package pop3d

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
)

// maildrop is a session's view of the INBOX, fixed at login as RFC 1939
// asks: message numbers never change during the session. Messages an IMAP
// session adds appear in the next POP3 session; one it expunges answers
// -ERR when retrieved. DELE only marks; QUIT expunges the marked messages
// (the UPDATE state), and a session that ends any other way changes
// nothing.
type maildrop struct {
	id          uint64 // the INBOX's mailbox id
	name        string // its canonical name
	uidValidity uint32
	msgs        []spool.Message
	deleted     []bool
	retrieved   []bool // RETR sets \Seen, at QUIT
}

// open looks up the user's INBOX (after a synced read when it is not yet
// active here: the frontend's copy of the directory may be ahead) and
// takes the maildrop's snapshot.
func (s *session) open(ctx context.Context, user string) (*maildrop, error) {
	name := fsm.Inbox(user)
	m, _, err := directory.Find(ctx, s.srv.cfg.Directory, directory.Fresh, func(v *fsm.View) (*fsm.Mailbox, bool) {
		m, ok := v.Mailbox(name)
		return m, ok && m.State == fsm.Active && m.Primary.Backend == s.srv.cfg.BackendID
	})
	switch {
	case errors.Is(err, directory.ErrNotFound) && m == nil:
		return nil, ErrNoInbox
	case m == nil:
		return nil, fmt.Errorf("%w: %w", ErrDirectory, err)
	case m.State != fsm.Active || m.Primary.Backend != s.srv.cfg.BackendID:
		return nil, fmt.Errorf("%w: %s on %s is %s", ErrNotHere, name, m.Primary.Backend, m.State)
	}
	st, err := s.srv.cfg.Store.Status(m.ID)
	if err != nil {
		return nil, err
	}
	msgs, err := s.srv.cfg.Store.Messages(m.ID)
	if err != nil {
		return nil, err
	}
	return &maildrop{
		id: m.ID, name: name, uidValidity: st.UIDValidity, msgs: msgs,
		deleted: make([]bool, len(msgs)), retrieved: make([]bool, len(msgs)),
	}, nil
}

// size is the number of octets in the messages not marked deleted.
func (d *maildrop) size() int64 {
	var n int64
	for i, m := range d.msgs {
		if !d.deleted[i] {
			n += m.Size
		}
	}
	return n
}

func (d *maildrop) count() int {
	n := 0
	for _, del := range d.deleted {
		if !del {
			n++
		}
	}
	return n
}

// uidl is a message's unique id: the INBOX's UIDVALIDITY and the message's
// UID, which replicas and live moves keep, so the id stays the same across
// sessions, failovers and moves.
func (d *maildrop) uidl(i int) string {
	return fmt.Sprintf("%d.%d", d.uidValidity, d.msgs[i].UID)
}

// message parses a message-number argument: the index of a message not
// marked deleted, or ok false once the error is sent.
func (s *session) message(arg string) (int, bool) {
	n, err := strconv.Atoi(arg)
	switch {
	case err != nil:
		s.err("invalid message number")
	case n < 1 || n > len(s.drop.msgs):
		s.err("no such message")
	case s.drop.deleted[n-1]:
		s.err("message %d already deleted", n)
	default:
		return n - 1, true
	}
	return 0, false
}

func (s *session) dropCommand(verb, arg string) bool {
	d := s.drop
	switch verb {
	case "CAPA":
		s.capa()
	case "NOOP":
		s.ok("")
	case "STAT":
		s.ok("%d %d", d.count(), d.size())
	case "LIST", "UIDL":
		s.listing(verb, arg)
	case "RETR":
		if i, ok := s.message(arg); ok {
			if s.send(i, -1) {
				d.retrieved[i] = true
			}
		}
	case "TOP":
		msg, lines, _ := strings.Cut(arg, " ")
		n, err := strconv.Atoi(lines)
		if err != nil || n < 0 {
			s.err("TOP needs a message number and a line count")
			return true
		}
		if i, ok := s.message(msg); ok {
			s.send(i, n)
		}
	case "DELE":
		if i, ok := s.message(arg); ok {
			d.deleted[i] = true
			s.ok("message %d deleted", i+1)
		}
	case "RSET":
		clear(d.deleted)
		s.ok("maildrop has %d messages (%d octets)", d.count(), d.size())
	case "QUIT":
		s.update()
		return false
	default:
		s.err("unknown command")
	}
	return true
}

// listing answers LIST and UIDL, for one message or all of them.
func (s *session) listing(verb, arg string) {
	d := s.drop
	item := func(i int) string {
		if verb == "UIDL" {
			return d.uidl(i)
		}
		return strconv.FormatInt(d.msgs[i].Size, 10)
	}
	if arg != "" {
		if i, ok := s.message(arg); ok {
			s.ok("%d %s", i+1, item(i))
		}
		return
	}
	s.ok("%d messages (%d octets)", d.count(), d.size())
	for i := range d.msgs {
		if !d.deleted[i] {
			fmt.Fprintf(s.bw, "%d %s\r\n", i+1, item(i))
		}
	}
	s.bw.WriteString(".\r\n")
}

// update is the UPDATE state: expunge the messages marked deleted and set
// \Seen on those retrieved, if the INBOX is still this one and served
// here. After a failover or a move away the copy here is no longer the
// one clients share, so nothing is changed and QUIT answers -ERR.
func (s *session) update() {
	d := s.drop
	var doomed, seen []uint32
	for i, m := range d.msgs {
		switch {
		case d.deleted[i]:
			doomed = append(doomed, m.UID)
		case d.retrieved[i]:
			seen = append(seen, m.UID)
		}
	}
	if len(doomed)+len(seen) == 0 {
		s.ok("bye")
		return
	}
	if err := s.stillHere(); err != nil {
		s.reply(err)
		return
	}
	store := s.srv.cfg.Store
	if len(seen) > 0 {
		if _, _, err := store.StoreFlags(d.id, seen, spool.FlagsAdd, []imap.Flag{imap.FlagSeen}, 0); err != nil {
			s.reply(err)
			return
		}
	}
	if len(doomed) > 0 {
		if _, _, err := store.StoreFlags(d.id, doomed, spool.FlagsAdd, []imap.Flag{imap.FlagDeleted}, 0); err != nil {
			s.reply(err)
			return
		}
		if _, err := store.Expunge(d.id, doomed); err != nil {
			s.reply(err)
			return
		}
	}
	s.log.Debug("maildrop updated", "mailbox_id", d.id, "expunged", len(doomed))
	s.ok("bye (%d messages deleted)", len(doomed))
}

// stillHere checks, after a synced read, that the session's INBOX is the
// active mailbox of that name with its primary here.
func (s *session) stillHere() error {
	ctx, cancel := s.ctx()
	defer cancel()
	v, err := s.srv.cfg.Directory.Read(ctx, directory.Synced)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	m, ok := v.Mailbox(s.drop.name)
	if !ok || m.ID != s.drop.id || m.State != fsm.Active || m.Primary.Backend != s.srv.cfg.BackendID {
		return fmt.Errorf("%w: %s", ErrNotHere, s.drop.name)
	}
	return nil
}
