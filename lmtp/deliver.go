package lmtp

import (
	"fmt"

	"github.com/emersion/go-smtp"
)

// backendTxn is one LMTP transaction with one backend: the recipients of
// the client's transaction that resolve there. Nothing reaches the backend
// before the client's DATA. The body goes in BDAT chunks (RFC 3030), which
// need no 354 and no dot-stuffing: a message that fits in one chunk leaves
// with MAIL and every RCPT in one write (RFC 2920), and all the replies
// come back in one read, so the proxy's exchange with the backend costs one
// round trip. A longer body is sent chunk by chunk as it arrives, after
// the replies to MAIL and RCPT have been read. A backend's refusal of a
// recipient reaches the client as that recipient's reply to DATA.
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
	// delivery names the transaction to the backend, which stores it in a
	// mailbox once however often it is sent (see settle).
	delivery string

	rcpts  []recipient     // one per mailbox, in RCPT order
	queued map[uint64]bool // mailboxes in rcpts

	conn        *backendConn
	lines       []string   // MAIL and RCPT as written in this transaction
	whole       []byte     // the body, when it went in one chunk with them
	sentWhole   bool       // the one-chunk body was written
	owed        []expected // what each reply not yet read answers, in order
	answered    int        // replies read in this transaction
	retried     bool       // the commands were sent again on a fresh connection
	readied     bool       // the replies to MAIL and RCPT were read before the body
	skip        bool       // the backend took no recipient: no body goes to it
	err         error      // the connection failed
	refused     error      // the backend refused MAIL: the reply for every recipient
	dataRefused error      // the backend refused a chunk: the reply for every accepted recipient
	statuses    map[uint64]error
	sent        []uint64 // mailboxes whose RCPT the backend accepted, in order
}

// expected is what a reply still to be read answers.
type expected struct {
	cmd     string // MAIL, RCPT, BDAT, LAST (the final BDAT) or RSET
	mailbox uint64 // for RCPT
}

// maxOwed bounds the replies left unread, so that neither side can block
// writing while the other does too (RFC 2920, section 3.5).
const maxOwed = 100

func (s *Server) openTxn(from string, opts *smtp.MailOptions, delivery, id, addr string) *backendTxn {
	return &backendTxn{
		srv: s, id: id, addr: addr, from: from, opts: opts, delivery: delivery,
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

// open takes a connection and writes MAIL and the RCPTs into its buffer;
// they leave with the body's first chunk.
func (t *backendTxn) open() {
	if t.conn, t.err = t.srv.backends.get(t.srv.ctx, t.id, t.addr, false); t.err != nil {
		return
	}
	t.conn.deadline(t.srv.cfg.BackendTimeout)
	t.command(t.conn.mailLine(t.from, t.opts, t.delivery), expected{cmd: "MAIL"})
	for _, r := range t.rcpts {
		if len(t.owed) >= maxOwed {
			t.settle()
		}
		t.command("RCPT TO:<"+r.addr+">", expected{cmd: "RCPT", mailbox: r.mailbox.ID})
	}
}

// chunk passes a piece of the body on, last for the piece that ends it. A
// body that is all one piece goes at once, behind MAIL and RCPT; before
// the first of several, the replies to MAIL and RCPT are read, so that a
// connection found dead can be replaced while nothing of the body has been
// sent on it, and a backend that took no recipient gets no body.
func (t *backendTxn) chunk(p []byte, last bool) {
	if t.err != nil || t.skip {
		return
	}
	if !last && !t.readied {
		t.ready()
		if t.err != nil || t.skip {
			return
		}
	}
	// A long body is bounded by the client's pace, not by one deadline.
	t.conn.deadline(t.srv.cfg.BackendTimeout)
	e := expected{cmd: "BDAT"}
	if last {
		e.cmd = "LAST"
		if !t.readied {
			t.whole, t.sentWhole = p, true
		}
	} else if len(t.owed) >= maxOwed {
		t.flushAndRead()
	}
	if t.err = t.conn.chunk(p, last); t.err != nil {
		t.err = fmt.Errorf("lmtp: body to %s: %w", t.id, t.err)
		return
	}
	t.owed = append(t.owed, e)
}

// ready reads the replies to MAIL and RCPT and decides whether the body
// goes to the backend.
func (t *backendTxn) ready() {
	t.readied = true
	t.settle()
	switch {
	case t.err != nil:
	case t.refused != nil:
		t.skip = true
	case len(t.sent) == 0:
		t.skip = true
		t.reset()
	}
}

// close ends the transaction. With bodyErr set (the client's body failed)
// the last chunk is never sent, so the backend delivers nothing, and the
// connection, mid-transaction, is closed. Otherwise the replies still owed
// are read: one per accepted recipient for the last chunk. A mailbox left
// without a status has an unknown fate (the connection failed first) and
// gets a temporary failure, so the MTA retries; one the backend
// acknowledged keeps its 250.
func (t *backendTxn) close(bodyErr error) {
	defer t.finish()
	if bodyErr != nil {
		if t.err == nil && t.conn != nil {
			t.err = bodyErr
		}
		return
	}
	t.settle()
	switch {
	case t.err != nil:
	case t.refused != nil:
		for _, r := range t.rcpts {
			t.statuses[r.mailbox.ID] = t.refused
		}
	case len(t.sent) == 0:
		if !t.skip {
			// The backend refused every RCPT and so the chunk; its MAIL
			// still stands until RSET.
			t.reset()
		}
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
// likely closed by the backend while idle, and nothing has been delivered
// on it; but the backend may also have died after its commit, before the
// replies left. So the transaction is sent again, once, on a fresh
// connection, the commands and the body when it went whole with them,
// under the same delivery id in MAIL: a backend that stored it already
// answers for what it stored and stores nothing twice.
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
	t.owed = t.owed[:0]
	t.err = nil
	lines := t.lines
	t.lines = nil
	for i, l := range lines {
		e := expected{cmd: "MAIL"}
		if i > 0 {
			e = expected{cmd: "RCPT", mailbox: t.rcpts[i-1].mailbox.ID}
		}
		t.command(l, e)
	}
	if t.sentWhole && t.err == nil {
		t.err = t.conn.chunk(t.whole, true)
		t.owed = append(t.owed, expected{cmd: "LAST"})
	}
	t.flushAndRead()
}

func (t *backendTxn) flushAndRead() {
	if t.err == nil {
		t.err = t.conn.w.Flush()
	}
	for t.err == nil && len(t.owed) > 0 {
		e := t.owed[0]
		n := 1
		if e.cmd == "LAST" && t.refused == nil && t.dataRefused == nil {
			// An LMTP server answers the last chunk once per accepted
			// recipient, or once if it accepted none.
			n = max(1, len(t.sent))
		}
		for i := range n {
			refusal, err := t.conn.reply()
			if err != nil {
				t.err = fmt.Errorf("lmtp: reply to %s from %s: %w", e.cmd, t.id, err)
				return
			}
			t.answered++
			t.note(e, i, refusal)
		}
		t.owed = t.owed[1:]
	}
}

// note records what the i-th reply to e says.
func (t *backendTxn) note(e expected, i int, refusal error) {
	switch e.cmd {
	case "MAIL":
		t.refused = refusal
	case "RCPT":
		if refusal != nil {
			t.statuses[e.mailbox] = refusal
		} else {
			t.sent = append(t.sent, e.mailbox)
		}
	case "BDAT", "LAST":
		switch {
		case t.refused != nil || len(t.sent) == 0:
			// Refused for want of MAIL or RCPT, which have their replies.
		case t.dataRefused != nil:
			// A chunk was refused: the backend dropped the transaction.
		case refusal != nil && e.cmd == "BDAT":
			t.dataRefused = refusal
			for _, id := range t.sent {
				t.statuses[id] = refusal
			}
		case e.cmd == "LAST":
			t.statuses[t.sent[i]] = refusal
		}
	case "RSET":
		if refusal != nil {
			t.err = fmt.Errorf("lmtp: %s refused RSET: %w", t.id, refusal)
		}
	}
}

// reset ends with RSET a transaction the backend left open, so that the
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
