// Package lmtp is the LMTP proxy: it accepts mail from an MTA, finds each
// recipient's mailbox in the local directory copy, and delivers to the
// backends that hold them, with one reply per recipient.
package lmtp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"

	"github.com/emersion/go-smtp"
	"github.com/rookery-mail/rookery/logging"
)

// Server is an LMTP proxy. It serves any number of listeners (TCP, unix).
type Server struct {
	cfg      Config
	smtp     *smtp.Server
	backends *backendPool

	ctx    context.Context // cancelled by Close: ends directory reads and deliveries
	cancel context.CancelFunc
}

var _ smtp.Backend = (*Server)(nil)

func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, backends: newBackendPool(cfg)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	srv := smtp.NewServer(s)
	srv.LMTP = true
	srv.Domain = cfg.Hostname
	srv.MaxMessageBytes = cfg.MaxMessageBytes
	srv.MaxRecipients = cfg.MaxRecipients
	srv.ReadTimeout = cfg.ReadTimeout
	srv.WriteTimeout = cfg.WriteTimeout
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = logging.StdLogger(cfg.Logger, "lmtp", slog.LevelWarn)
	s.smtp = srv
	return s, nil
}

// Serve accepts connections on l until Close.
func (s *Server) Serve(l net.Listener) error {
	err := s.smtp.Serve(l)
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops every listener, ends open sessions and drops idle backend
// connections.
func (s *Server) Close() error {
	s.cancel()
	err := s.smtp.Close()
	s.backends.close()
	return err
}

func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{srv: s}, nil
}

// session is one LMTP transaction at a time on one client connection.
type session struct {
	srv      *Server
	from     string
	mailOpts *smtp.MailOptions
	rcpts    []recipient
	txns     map[string]*backendTxn // by backend id, opened at its first RCPT
}

var _ smtp.LMTPSession = (*session)(nil)

func (s *session) Reset() {
	for _, t := range s.txns {
		t.abort()
	}
	s.from, s.mailOpts, s.rcpts, s.txns = "", nil, nil, nil
}

func (s *session) Logout() error {
	s.Reset()
	return nil
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if opts != nil && opts.Size > s.srv.cfg.MaxMessageBytes {
		return reply(ErrTooBig)
	}
	s.from, s.mailOpts = from, opts
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if len(s.rcpts) >= s.srv.cfg.MaxRecipients {
		return reply(ErrTooManyRcpts)
	}
	ctx, cancel := context.WithTimeout(s.srv.ctx, s.srv.cfg.BackendTimeout)
	defer cancel()
	r, err := s.srv.resolve(ctx, to)
	if err != nil {
		s.srv.cfg.Logger.Debug("recipient refused", "rcpt", to, "err", err)
		return reply(err)
	}
	s.rcpts = append(s.rcpts, r)
	if s.txns == nil {
		s.txns = map[string]*backendTxn{}
	}
	t := s.txns[r.backend.ID]
	if t == nil {
		t = s.srv.openTxn(s.from, s.mailOpts, r.backend.ID, r.backend.LMTPAddr)
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

func (s *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	body, err := io.ReadAll(r)
	if err != nil {
		s.Reset()
		if errors.Is(err, smtp.ErrDataTooLarge) {
			return reply(ErrTooBig)
		}
		return reply(err)
	}
	results := s.srv.finishAll(s.txns, s.rcpts, body)
	s.txns = nil
	for i, rc := range s.rcpts {
		status.SetStatus(rc.addr, results[i])
	}
	return nil
}

type statusFunc func(rcpt string, err error)

func (f statusFunc) SetStatus(rcpt string, err error) { f(rcpt, err) }
