// Package lmtp is the LMTP proxy: it accepts mail from an MTA, finds each
// recipient's mailbox in the local directory copy, and delivers to the
// backends that hold them, with one reply per recipient.
package lmtp

import (
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/rookery-mail/rookery/internal/batchconn"
	"github.com/rookery-mail/rookery/internal/readend"
	"github.com/rookery-mail/rookery/internal/smtpstop"
	"github.com/rookery-mail/rookery/logging"
)

// Server is an LMTP proxy. It serves any number of listeners (TCP, unix).
type Server struct {
	cfg      Config
	smtp     *smtp.Server
	backends *backendPool
	stop     *smtpstop.Stopper

	ctx    context.Context // cancelled by Close: ends directory reads and deliveries
	cancel context.CancelFunc
}

var _ smtp.Backend = (*Server)(nil)

func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, backends: newBackendPool(cfg), stop: smtpstop.New()}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	srv := smtp.NewServer(s)
	srv.LMTP = true
	srv.Domain = cfg.Hostname
	srv.MaxMessageBytes = cfg.MaxMessageBytes
	srv.MaxRecipients = cfg.MaxRecipients
	srv.ReadTimeout = cfg.ReadTimeout
	srv.WriteTimeout = cfg.WriteTimeout
	srv.EnableSMTPUTF8 = true
	srv.TLSConfig = cfg.TLS
	srv.ErrorLog = logging.StdLogger(cfg.Logger, "lmtp", slog.LevelWarn)
	s.smtp = srv
	return s, nil
}

// Serve accepts connections on l until Close. Clients get TLS by STARTTLS:
// l is a plain listener (TCP or unix).
func (s *Server) Serve(l net.Listener) error {
	// readend beneath go-smtp's STARTTLS: a BDAT chunk cut off by the
	// client's going away must not pass for the end of the message.
	err := s.smtp.Serve(readend.Listen(batchconn.Listen(s.stop.Listen(l))))
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops every listener, ends open sessions, waits for the
// deliveries in flight to end and drops idle backend connections.
func (s *Server) Close() error {
	s.cancel()
	err := s.stop.Stop(s.smtp)
	s.backends.close()
	return err
}

func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{srv: s, conn: c}, nil
}

// session is one LMTP transaction at a time on one client connection.
type session struct {
	srv  *Server
	conn *smtp.Conn
	// mu guards the transaction: with BDAT, go-smtp runs LMTPData in a
	// goroutine of its own and may Reset the session (a chunk that could
	// not be read, a connection gone) before LMTPData has returned.
	// LMTPData works on the transaction as it found it.
	mu       sync.Mutex
	from     string
	mailOpts *smtp.MailOptions
	delivery string // this transaction's id towards the backends (see newDeliveryID)
	rcpts    []recipient
	txns     map[string]*backendTxn // by backend id, opened at its first RCPT

	lookup       context.Context // bounds the directory reads of RCPTs
	cancelLookup context.CancelFunc
}

var _ smtp.LMTPSession = (*session)(nil)

// Reset drops the transaction. No backend has heard of it: backends hear
// of a transaction only at DATA.
func (s *session) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancelLookup != nil {
		s.cancelLookup()
	}
	s.from, s.mailOpts, s.rcpts, s.txns = "", nil, nil, nil
	s.lookup, s.cancelLookup = nil, nil
}

// lookupCtx bounds a recipient's directory reads. The RCPTs of a
// transaction share one context, and its timer, while it has at least half
// of BackendTimeout left.
func (s *session) lookupCtx() context.Context {
	if s.lookup != nil {
		if dl, _ := s.lookup.Deadline(); time.Until(dl) > s.srv.cfg.BackendTimeout/2 {
			return s.lookup
		}
		s.cancelLookup()
	}
	s.lookup, s.cancelLookup = context.WithTimeout(s.srv.ctx, s.srv.cfg.BackendTimeout)
	return s.lookup
}

func (s *session) Logout() error {
	s.Reset()
	return nil
}

// observe reports one command's outcome to the Observer.
func (s *session) observe(name string, start time.Time, err error) {
	if o := s.srv.cfg.Observer; o != nil {
		o.LMTPCommand(name, replyClass(err), time.Since(start))
	}
}

// replyClass is the Observer's name for the reply err gives the client.
func replyClass(err error) string {
	if err == nil {
		return "ok"
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 {
		return "permfail"
	}
	return "tempfail"
}

func (s *session) Mail(from string, opts *smtp.MailOptions) (err error) {
	start := time.Now()
	defer func() { s.observe("MAIL", start, err) }()
	if opts != nil && opts.Size > s.srv.cfg.MaxMessageBytes {
		return reply(ErrTooBig)
	}
	s.mu.Lock()
	s.from, s.mailOpts, s.delivery = from, opts, newDeliveryID()
	s.mu.Unlock()
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) (err error) {
	start := time.Now()
	defer func() { s.observe("RCPT", start, err) }()
	if len(s.rcpts) >= s.srv.cfg.MaxRecipients {
		return reply(ErrTooManyRcpts)
	}
	r, err := s.srv.resolve(s.lookupCtx(), to)
	if err != nil {
		s.srv.cfg.Logger.Debug("recipient refused", "rcpt", to, "err", err)
		return reply(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcpts = append(s.rcpts, r)
	if s.txns == nil {
		s.txns = map[string]*backendTxn{}
	}
	t := s.txns[r.backend.ID]
	if t == nil {
		t = s.srv.openTxn(s.from, s.mailOpts, s.delivery, r.backend.ID, r.backend.LMTPAddr)
		s.txns[r.backend.ID] = t
	}
	t.add(r)
	return nil
}

// Data is used only over SMTP; LMTP clients get LMTPData.
func (s *session) Data(r io.Reader) error {
	var first error
	err := s.LMTPData(r, statusFunc(func(_ string, err error) {
		if first == nil {
			first = err
		}
	}))
	if err != nil {
		return err
	}
	return first
}

// LMTPData starts the transaction with every backend at once and streams
// the body to them while the client is still sending it. Each recipient's
// reply is the one its backend gave: no 250 before the backend's 250. A
// body that fails (over the size limit, the client gone) is refused for
// every recipient and never ended towards a backend, so nothing is
// delivered.
func (s *session) LMTPData(r io.Reader, status smtp.StatusCollector) (err error) {
	if !s.srv.stop.Enter() {
		return reply(ErrClosed)
	}
	defer s.srv.stop.Leave()
	start := time.Now()
	defer func() {
		if err != nil {
			s.observe("DATA", start, err)
		}
	}()
	s.mu.Lock()
	byBackend, rcpts := maps.Clone(s.txns), slices.Clone(s.rcpts)
	s.mu.Unlock()
	txns := make([]*backendTxn, 0, len(byBackend))
	for _, t := range byBackend {
		t.open()
		txns = append(txns, t)
	}
	// A body sent whole stays in buf until close has read its replies:
	// a dead pooled connection is replaced by sending it again.
	buf := chunkBufs.Get().(*[]byte)
	defer chunkBufs.Put(buf)
	err = streamBody(readend.Body(r, s.conn.Conn), *buf, txns)
	for _, t := range txns {
		t.close(err)
	}
	if err != nil {
		if errors.Is(err, smtp.ErrDataTooLarge) {
			return reply(ErrTooBig)
		}
		return reply(err)
	}
	for i, res := range replies(byBackend, rcpts) {
		status.SetStatus(rcpts[i].addr, cmp.Or(res, errDelivered))
		s.observe("DATA", start, res)
	}
	return nil
}

type statusFunc func(rcpt string, err error)

func (f statusFunc) SetStatus(rcpt string, err error) { f(rcpt, err) }
