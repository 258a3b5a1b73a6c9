package lmtpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/emersion/go-smtp"

	"github.com/rookery-mail/rookery/backend/quota"
	"github.com/rookery-mail/rookery/internal/readend"
	"github.com/rookery-mail/rookery/internal/smtpstop"
)

// Server is a backend's LMTP server: it delivers into the local spool the
// mail the LMTP proxies (or an MTA) hand it, one status per recipient.
type Server struct {
	cfg    Config
	log    *slog.Logger
	smtp   *smtp.Server
	stop   *smtpstop.Stopper
	ctx    context.Context // ends at Close, and with it every lookup
	cancel context.CancelFunc
}

// New builds a server from cfg.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if max := cfg.Store.MaxMessageBytes(); cfg.MaxMessageBytes == 0 || cfg.MaxMessageBytes > max {
		cfg.MaxMessageBytes = max
	}
	if cfg.Quota == nil {
		cfg.Quota = quota.NewMeter(quota.MeterConfig{Backend: cfg.BackendID, Store: cfg.Store})
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("backend_id", cfg.BackendID), stop: smtpstop.New()}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.LMTP = true
	// DSN for its ENVID parameter, which carries the proxies' delivery
	// ids; a backend sends no DSNs (the MTA in front of the proxy does).
	srv.EnableDSN = true
	srv.Domain = cfg.Domain
	srv.MaxMessageBytes = cfg.MaxMessageBytes
	srv.MaxRecipients = cfg.MaxRecipients
	srv.ReadTimeout = cfg.ReadTimeout
	srv.WriteTimeout = cfg.WriteTimeout
	srv.ErrorLog = smtpLogger{s.log}
	s.smtp = srv
	return s, nil
}

// Serve accepts connections on l until Close.
func (s *Server) Serve(l net.Listener) error {
	s.log.Info("lmtp server listening", "addr", l.Addr().String())
	// A BDAT chunk cut off by the client's going away must not pass for
	// the end of the message (see readend).
	err := s.smtp.Serve(readend.Listen(s.stop.Listen(l)))
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the listeners, closes every connection and returns when no
// session works on the store any more. A delivery that is committing
// finishes first in the store; its client just loses the reply and
// retries, and a retried delivery can only duplicate, never lose.
func (s *Server) Close() error {
	s.cancel()
	return s.stop.Stop(s.smtp)
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{srv: s, conn: c, log: s.log.With("remote_addr", c.Conn().RemoteAddr().String())}, nil
}

// smtpLogger gives go-smtp's error log to slog.
type smtpLogger struct{ log *slog.Logger }

func (l smtpLogger) Printf(format string, v ...any) {
	l.log.Warn("lmtp connection error", "detail", fmt.Sprintf(format, v...))
}

func (l smtpLogger) Println(v ...any) {
	l.log.Warn("lmtp connection error", "detail", fmt.Sprint(v...))
}
