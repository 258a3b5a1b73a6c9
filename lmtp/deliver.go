package lmtp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// deliver sends body to every recipient's backend, one LMTP transaction per
// backend, all backends at once, and returns one status per recipient in
// the order of rcpts. Recipients that resolved to the same mailbox are sent
// once, so a message reaches a mailbox once however it was addressed.
func (s *Server) deliver(ctx context.Context, from string, opts *smtp.MailOptions, rcpts []recipient, body []byte) []error {
	results := make([]error, len(rcpts))
	groups := map[string][]int{} // backend id -> indexes into rcpts
	for i, r := range rcpts {
		groups[r.backend.ID] = append(groups[r.backend.ID], i)
	}
	var wg sync.WaitGroup
	for _, idx := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.deliverToBackend(ctx, from, opts, rcpts, idx, body, results)
		}()
	}
	wg.Wait()
	return results
}

// deliverToBackend runs one transaction on one backend for the recipients
// at idx, writing their statuses into results. An idle connection the
// backend has closed fails at MAIL, before anything is delivered, so that
// case is tried once more on a fresh connection.
func (s *Server) deliverToBackend(ctx context.Context, from string, opts *smtp.MailOptions, rcpts []recipient, idx []int, body []byte, results []error) {
	be := rcpts[idx[0]].backend
	var statuses map[uint64]error
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		var c *backendConn
		c, err = s.backends.get(ctx, be.ID, be.LMTPAddr, attempt > 0)
		if err != nil {
			break
		}
		statuses, err = s.transaction(c, from, opts, rcpts, idx, body)
		if err == nil {
			s.backends.put(be.ID, c)
			break
		}
		c.Close()
		if !errors.Is(err, errStaleConn) {
			break
		}
	}
	for _, i := range idx {
		if st, ok := statuses[rcpts[i].mailbox.ID]; ok {
			results[i] = reply(st)
		} else {
			results[i] = reply(fmt.Errorf("%w: %s: %v", ErrBackendDown, be.ID, err))
		}
	}
}

// errStaleConn: the connection failed before the transaction began.
var errStaleConn = errors.New("lmtp: backend connection closed")

// transaction is MAIL, one RCPT per distinct mailbox, DATA. It returns a
// status per mailbox id (nil for delivered). With an error, the connection
// is unusable and the map holds only the statuses the backend did send:
// a mailbox missing from it has an unknown fate and gets a temporary
// failure, so the MTA retries; one the backend acknowledged keeps its 250.
func (s *Server) transaction(c *backendConn, from string, opts *smtp.MailOptions, rcpts []recipient, idx []int, body []byte) (map[uint64]error, error) {
	c.deadline(s.cfg.BackendTimeout)
	statuses := map[uint64]error{}
	if err := c.Mail(from, backendMailOptions(opts)); err != nil {
		if !isReply(err) {
			return nil, fmt.Errorf("%w: %v", errStaleConn, err)
		}
		for _, i := range idx {
			statuses[rcpts[i].mailbox.ID] = err
		}
		return statuses, c.Reset()
	}
	var sent []string
	byAddr := map[string]uint64{}
	for _, i := range idx {
		r := rcpts[i]
		if _, done := statuses[r.mailbox.ID]; done {
			continue
		}
		if err := c.Rcpt(r.rcptTo, nil); err != nil {
			if !isReply(err) {
				return statuses, err
			}
			statuses[r.mailbox.ID] = err
			continue
		}
		sent = append(sent, r.rcptTo)
		byAddr[r.rcptTo] = r.mailbox.ID
	}
	if len(sent) == 0 {
		return statuses, c.Reset()
	}
	w, err := c.Data()
	if err != nil {
		if !isReply(err) {
			return statuses, err
		}
		for _, a := range sent {
			statuses[byAddr[a]] = err
		}
		return statuses, c.Reset()
	}
	if _, err := w.Write(body); err != nil {
		return statuses, err
	}
	ok, err := w.CloseWithLMTPResponse()
	for a := range ok {
		statuses[byAddr[a]] = nil
	}
	var perRcpt smtp.LMTPDataError
	if errors.As(err, &perRcpt) {
		for a, e := range perRcpt {
			statuses[byAddr[a]] = e
		}
	}
	if err != nil && !isOnlyLMTP(err) {
		return statuses, err
	}
	return statuses, nil
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

// backendConn is one LMTP client connection to a backend.
type backendConn struct {
	*smtp.Client
	conn net.Conn
}

func (c *backendConn) deadline(d time.Duration) { c.conn.SetDeadline(time.Now().Add(d)) }

// backendPool keeps a few idle connections per backend: a connection costs
// a TCP handshake, a greeting and LHLO, more than a small delivery.
type backendPool struct {
	cfg  Config
	mu   sync.Mutex
	idle map[string][]*backendConn
	shut bool
}

func newBackendPool(cfg Config) *backendPool {
	return &backendPool{cfg: cfg, idle: map[string][]*backendConn{}}
}

// get returns an idle connection to the backend, or a new one when there
// is none or fresh is set.
func (p *backendPool) get(ctx context.Context, id, addr string, fresh bool) (*backendConn, error) {
	p.mu.Lock()
	if p.shut {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if l := p.idle[id]; len(l) > 0 && !fresh {
		c := l[len(l)-1]
		p.idle[id] = l[:len(l)-1]
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(p.cfg.BackendTimeout))
	cl := smtp.NewClientLMTP(conn)
	if err := cl.Hello(p.cfg.Hostname); err != nil {
		cl.Close()
		return nil, err
	}
	return &backendConn{Client: cl, conn: conn}, nil
}

func (p *backendPool) put(id string, c *backendConn) {
	c.conn.SetDeadline(time.Time{})
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shut || len(p.idle[id]) >= p.cfg.IdleBackendConns {
		c.Close()
		return
	}
	p.idle[id] = append(p.idle[id], c)
}

func (p *backendPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shut = true
	for id, l := range p.idle {
		for _, c := range l {
			c.Close()
		}
		delete(p.idle, id)
	}
}
