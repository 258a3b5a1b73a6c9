package lmtp

import (
	"fmt"

	"github.com/emersion/go-smtp"
)

// backendTxn is one LMTP transaction with one backend: the recipients of
// the client's transaction that resolve there. Nothing reaches the backend
// before the client's DATA; then MAIL, every RCPT and DATA leave in one
// write (RFC 2920) while the client, told 354, sends its body, and the body
// goes on as it arrives. The proxy's exchange with the backend thus costs
// one round trip, the one DATA needs anyway, and that one overlaps the
// client's. A backend's refusal of a recipient reaches the client as that
// recipient's reply to DATA.
//
// The session's goroutine does it all, for every backend in turn: each
// step only writes, or reads replies the backends have been working on
// side by side.
type backendTxn struct {
	srv  *Server
	id   string
	addr string
	from string
	opts *smtp.MailOptions

	rcpts  []recipient     // one per mailbox, in RCPT order
	queued map[uint64]bool // mailboxes in rcpts

	conn        *backendConn
	lines       []string   // commands written in this transaction
	owed        []expected // what each reply not yet read answers, in order
	answered    int        // replies read in this transaction
	retried     bool       // the commands were sent again on a fresh connection
	readied     bool       // ready has run
	accepting   bool       // the backend said 354: the body goes to it
	dw          *dotStuffer
	err         error // the connection failed
	refused     error // the backend refused MAIL: the reply for every recipient
	dataRefused error // the backend refused DATA: the reply for every accepted recipient
	statuses    map[uint64]error
	sent        []uint64 // mailboxes whose RCPT the backend accepted, in order
}

// expected is what a reply still to be read answers.
type expected struct {
	cmd     string // MAIL, RCPT, DATA or RSET
	mailbox uint64 // for RCPT
}

// maxOwed bounds the replies left unread, so that neither side can block
// writing while the other does too (RFC 2920, section 3.5).
const maxOwed = 100

func (s *Server) openTxn(from string, opts *smtp.MailOptions, id, addr string) *backendTxn {
	return &backendTxn{
		srv: s, id: id, addr: addr, from: from, opts: opts,
		queued:   map[uint64]bool{},
		statuses: map[uint64]error{},
	}
}

// add takes a recipient. A second address for the same mailbox is not sent
// again, so a message reaches a mailbox once however it was addressed.
func (t *backendTxn) add(r recipient) {
	if !t.queued[r.mailbox.ID] {
		t.queued[r.mailbox.ID] = true
		t.rcpts = append(t.rcpts, r)
	}
}

// open takes a connection and sends MAIL, the RCPTs and DATA, without
// waiting for their replies.
func (t *backendTxn) open() {
	if t.conn, t.err = t.srv.backends.get(t.srv.ctx, t.id, t.addr, false); t.err != nil {
		return
	}
	t.conn.deadline(t.srv.cfg.BackendTimeout)
	t.command(t.conn.mailLine(t.from, t.opts), expected{cmd: "MAIL"})
	for _, r := range t.rcpts {
		if len(t.owed) >= maxOwed {
			t.settle()
		}
		t.command("RCPT TO:<"+r.rcptTo+">", expected{cmd: "RCPT", mailbox: r.mailbox.ID})
	}
	t.command("DATA", expected{cmd: "DATA"})
	if t.err == nil {
		t.err = t.conn.w.Flush()
	}
}

// take passes a piece of the body on. The first waits for the replies to
// open's commands, which by then have mostly arrived.
func (t *backendTxn) take(p []byte) {
	if !t.readied {
		t.ready()
	}
	if !t.accepting || t.err != nil {
		return
	}
	// A long body is bounded by the client's pace, not by one deadline.
	t.conn.deadline(t.srv.cfg.BackendTimeout)
	if _, err := t.dw.Write(p); err != nil {
		t.err = fmt.Errorf("lmtp: body to %s: %w", t.id, err)
	}
}

// ready reads the replies to open's commands and decides whether the
// body goes to the backend.
func (t *backendTxn) ready() {
	t.readied = true
	t.settle()
	switch {
	case t.err != nil:
	case t.refused != nil:
		for _, r := range t.rcpts {
			t.statuses[r.mailbox.ID] = t.refused
		}
		t.reset()
	case t.dataRefused != nil:
		for _, id := range t.sent {
			t.statuses[id] = t.dataRefused
		}
		t.reset()
	case len(t.sent) == 0:
		// A backend that takes DATA with no recipient would send no reply
		// after the body, and the connection would go out of step.
		t.err = fmt.Errorf("lmtp: %s accepted DATA without recipients", t.id)
	default:
		t.accepting = true
		t.dw = newDotStuffer(t.conn.w)
	}
}

// close ends the transaction. With bodyErr set (the client's body failed)
// the body is never ended with the final dot, so the backend delivers
// nothing, and the connection, mid-DATA, is closed. Otherwise the final dot
// goes out and one reply per accepted recipient comes back. A mailbox left
// without a status has an unknown fate (the connection failed first) and
// gets a temporary failure, so the MTA retries; one the backend
// acknowledged keeps its 250.
func (t *backendTxn) close(bodyErr error) {
	defer t.finish()
	if !t.readied {
		t.ready() // an empty body
	}
	switch {
	case !t.accepting || t.err != nil:
		return
	case bodyErr != nil:
		t.err = bodyErr
		return
	}
	t.conn.deadline(t.srv.cfg.BackendTimeout)
	if err := t.dw.Close(); err != nil {
		t.err = fmt.Errorf("lmtp: body to %s: %w", t.id, err)
		return
	}
	for _, id := range t.sent {
		refusal, err := t.conn.reply()
		if err != nil {
			t.err = fmt.Errorf("lmtp: reply to DATA from %s: %w", t.id, err)
			return
		}
		t.statuses[id] = refusal
	}
}

// command writes one command and notes the reply it is owed.
func (t *backendTxn) command(line string, e expected) {
	if t.err != nil {
		return
	}
	t.lines = append(t.lines, line)
	t.owed = append(t.owed, e)
	t.err = t.conn.line(line)
}

// settle sends what is buffered and reads every reply still owed. A
// connection from the pool that fails before its first reply was most
// likely closed by the backend while idle; nothing has been delivered on
// it, so the commands are sent again, once, on a fresh connection.
func (t *backendTxn) settle() {
	t.flushAndRead()
	if t.err == nil || t.conn == nil || !t.conn.reused || t.answered > 0 || t.retried {
		return
	}
	t.retried = true
	t.conn.Close()
	if t.conn, t.err = t.srv.backends.get(t.srv.ctx, t.id, t.addr, true); t.err != nil {
		return
	}
	t.conn.deadline(t.srv.cfg.BackendTimeout)
	for _, l := range t.lines {
		if t.err = t.conn.line(l); t.err != nil {
			return
		}
	}
	t.flushAndRead()
}

func (t *backendTxn) flushAndRead() {
	if t.err == nil {
		t.err = t.conn.w.Flush()
	}
	for t.err == nil && len(t.owed) > 0 {
		refusal, err := t.conn.reply()
		if err != nil {
			t.err = fmt.Errorf("lmtp: reply to %s from %s: %w", t.owed[0].cmd, t.id, err)
			return
		}
		t.answered++
		t.note(t.owed[0], refusal)
		t.owed = t.owed[1:]
	}
}

// note records what a reply says.
func (t *backendTxn) note(e expected, refusal error) {
	switch e.cmd {
	case "MAIL":
		t.refused = refusal
	case "RCPT":
		if refusal != nil {
			t.statuses[e.mailbox] = refusal
		} else {
			t.sent = append(t.sent, e.mailbox)
		}
	case "DATA":
		t.dataRefused = refusal
	case "RSET":
		if refusal != nil {
			t.err = fmt.Errorf("lmtp: %s refused RSET: %w", t.id, refusal)
		}
	}
}

// reset ends with RSET a transaction the backend refused, so that the
// connection can serve the next one.
func (t *backendTxn) reset() {
	t.command("RSET", expected{cmd: "RSET"})
	t.settle()
}

// finish returns a connection in step to the pool and closes any other.
func (t *backendTxn) finish() {
	switch {
	case t.conn == nil:
	case t.err != nil:
		t.conn.Close()
	default:
		t.srv.backends.put(t.id, t.conn)
	}
}

// replies returns each recipient's reply, in the order of rcpts.
func replies(txns map[string]*backendTxn, rcpts []recipient) []error {
	results := make([]error, len(rcpts))
	for i, r := range rcpts {
		t := txns[r.backend.ID]
		if st, ok := t.statuses[r.mailbox.ID]; ok {
			results[i] = reply(st)
		} else {
			results[i] = reply(fmt.Errorf("%w: %s: %v", ErrBackendDown, r.backend.ID, t.err))
		}
	}
	return results
}
