package lmtp

import (
	"errors"
	"fmt"
	"sync"

	"github.com/emersion/go-smtp"
)

// backendTxn is one LMTP transaction with one backend, opened at the first
// RCPT that resolves to it. Its goroutine sends MAIL and each RCPT while the
// client is still sending its own RCPTs, so that at DATA only the data
// exchange is left: the proxy's round trips to the backend overlap the
// client's instead of adding to them. A backend's refusal of a recipient
// reaches the client as that recipient's reply to DATA.
type backendTxn struct {
	srv    *Server
	id     string
	addr   string
	queue  chan recipient
	done   chan struct{}   // closed when every queued RCPT has been sent
	queued map[uint64]bool // mailboxes queued (session goroutine only)

	// Written by run; read by the session after done is closed.
	conn     *backendConn
	err      error             // the connection failed
	refused  error             // the backend refused MAIL: the reply for every recipient
	statuses map[uint64]error  // per mailbox id: the backend's reply (nil: delivered)
	byAddr   map[string]uint64 // accepted RCPT address -> mailbox id
	sent     []string          // accepted RCPT addresses
}

func (s *Server) openTxn(from string, opts *smtp.MailOptions, id, addr string) *backendTxn {
	t := &backendTxn{
		srv: s, id: id, addr: addr,
		queue:    make(chan recipient, s.cfg.MaxRecipients),
		done:     make(chan struct{}),
		queued:   map[uint64]bool{},
		statuses: map[uint64]error{},
		byAddr:   map[string]uint64{},
	}
	go t.run(from, opts)
	return t
}

// add queues a recipient. A second address for the same mailbox is not sent
// again, so a message reaches a mailbox once however it was addressed.
func (t *backendTxn) add(r recipient) {
	if !t.queued[r.mailbox.ID] {
		t.queued[r.mailbox.ID] = true
		t.queue <- r // never blocks: the queue holds MaxRecipients
	}
}

func (t *backendTxn) run(from string, opts *smtp.MailOptions) {
	defer close(t.done)
	t.err = t.mail(from, opts)
	for r := range t.queue {
		if t.err != nil || t.refused != nil {
			continue
		}
		err := t.conn.Rcpt(r.rcptTo, nil)
		switch {
		case err == nil:
			t.byAddr[r.rcptTo] = r.mailbox.ID
			t.sent = append(t.sent, r.rcptTo)
		case isReply(err):
			t.statuses[r.mailbox.ID] = err
		default:
			t.err = err
		}
	}
}

// mail gets a connection and sends MAIL. An idle connection the backend has
// closed fails here, before anything is delivered, so that case is tried
// once more on a fresh connection.
func (t *backendTxn) mail(from string, opts *smtp.MailOptions) error {
	for attempt := 0; attempt < 2; attempt++ {
		c, err := t.srv.backends.get(t.srv.ctx, t.id, t.addr, attempt > 0)
		if err != nil {
			return err
		}
		c.deadline(t.srv.cfg.BackendTimeout)
		err = c.Mail(from, backendMailOptions(opts))
		if err == nil || isReply(err) {
			t.conn, t.refused = c, err
			return nil
		}
		c.Close()
		if attempt == 1 {
			return err
		}
	}
	return nil
}

// finish ends the transaction with body and returns the backend's reply
// per mailbox id. A mailbox missing from the map has an unknown fate (the
// connection failed first) and gets a temporary failure, so the MTA
// retries; one the backend acknowledged keeps its 250.
func (t *backendTxn) finish(body []byte) (map[uint64]error, error) {
	close(t.queue)
	<-t.done
	if t.err != nil {
		t.discard()
		return t.statuses, t.err
	}
	if t.refused != nil {
		for id := range t.queued {
			t.statuses[id] = t.refused
		}
		t.release()
		return t.statuses, nil
	}
	if len(t.sent) == 0 {
		t.release()
		return t.statuses, nil
	}
	err := t.data(body)
	if err != nil {
		t.discard()
		return t.statuses, err
	}
	t.srv.backends.put(t.id, t.conn)
	return t.statuses, nil
}

func (t *backendTxn) data(body []byte) error {
	w, err := t.conn.Data()
	if err != nil {
		if !isReply(err) {
			return err
		}
		for _, a := range t.sent {
			t.statuses[t.byAddr[a]] = err
		}
		return t.conn.Reset()
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	ok, err := w.CloseWithLMTPResponse()
	for a := range ok {
		t.statuses[t.byAddr[a]] = nil
	}
	var perRcpt smtp.LMTPDataError
	if errors.As(err, &perRcpt) {
		for a, e := range perRcpt {
			t.statuses[t.byAddr[a]] = e
		}
	}
	if err != nil && !isOnlyLMTP(err) {
		return err
	}
	return nil
}

// abort ends the transaction without DATA (RSET, or the client left).
func (t *backendTxn) abort() {
	close(t.queue)
	<-t.done
	if t.err != nil {
		t.discard()
		return
	}
	t.release()
}

// release resets the connection and returns it to the pool.
func (t *backendTxn) release() {
	if err := t.conn.Reset(); err != nil {
		t.discard()
		return
	}
	t.srv.backends.put(t.id, t.conn)
}

func (t *backendTxn) discard() {
	if t.conn != nil {
		t.conn.Close()
	}
}

// finishAll ends every backend's transaction at once and returns each
// recipient's reply, in the order of rcpts.
func (s *Server) finishAll(txns map[string]*backendTxn, rcpts []recipient, body []byte) []error {
	type outcome struct {
		statuses map[uint64]error
		err      error
	}
	outcomes := make(map[string]outcome, len(txns))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for id, t := range txns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := t.finish(body)
			mu.Lock()
			outcomes[id] = outcome{st, err}
			mu.Unlock()
		}()
	}
	wg.Wait()
	results := make([]error, len(rcpts))
	for i, r := range rcpts {
		o := outcomes[r.backend.ID]
		if st, ok := o.statuses[r.mailbox.ID]; ok {
			results[i] = reply(st)
		} else {
			results[i] = reply(fmt.Errorf("%w: %s: %v", ErrBackendDown, r.backend.ID, o.err))
		}
	}
	return results
}

// isOnlyLMTP reports whether err carries nothing but per-recipient replies;
// a joined connection error means some replies never came.
func isOnlyLMTP(err error) bool {
	_, ok := err.(smtp.LMTPDataError)
	return ok
}

func isReply(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se)
}

// backendMailOptions passes on what the backend can use: the declared size
// and the body type.
func backendMailOptions(opts *smtp.MailOptions) *smtp.MailOptions {
	if opts == nil {
		return nil
	}
	return &smtp.MailOptions{Size: opts.Size, Body: opts.Body, UTF8: opts.UTF8}
}
