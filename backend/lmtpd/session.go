package lmtpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/rookery-mail/rookery/backend/quota"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/readend"
	"github.com/rookery-mail/rookery/spool"
)

// session is one LMTP transaction after another on one connection.
// DeliveryIDPrefix starts the delivery ids that the LMTP proxies send as
// MAIL's ENVID (lmtp.newDeliveryID makes them).
const DeliveryIDPrefix = "rk-"

type session struct {
	srv  *Server
	conn *smtp.Conn
	log  *slog.Logger
	// mu guards the transaction: with BDAT, go-smtp runs LMTPData in a
	// goroutine of its own and may Reset the session (a chunk that could
	// not be read, a connection gone) before LMTPData has returned.
	mu   sync.Mutex
	from string
	// delivery is MAIL's ENVID, which the LMTP proxies set to a delivery
	// id of theirs: the store takes a delivery sent again under it once.
	delivery string
	size     int64       // the size MAIL declared, 0 if none
	rcpts    []recipient // accepted, in RCPT order
}

var _ smtp.LMTPSession = (*session)(nil)

// recipient is an accepted RCPT: the address as given (go-smtp reports
// statuses by it) and the mailbox it resolved to.
type recipient struct {
	addr    string
	mailbox uint64
	name    string // the mailbox's, for its owner's quota
}

func (s *session) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.from, s.size, s.rcpts, s.delivery = "", 0, nil, ""
}

func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.from, s.size, s.rcpts, s.delivery = from, 0, nil, ""
	if opts != nil {
		s.size = opts.Size
		// Only the proxies' own ids name a delivery: an MTA's ENVID is the
		// original sender's, who may give two messages the same one.
		// The id is kept with each message stored; a proxy's is 27 bytes.
		if strings.HasPrefix(opts.EnvelopeID, DeliveryIDPrefix) && len(opts.EnvelopeID) <= spool.MaxDeliveryID {
			s.delivery = opts.EnvelopeID
		}
	}
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	mb, err := s.srv.resolve(to)
	if err != nil {
		s.log.Info("lmtp recipient refused", "rcpt", to, "err", err)
		return replyErr(err)
	}
	if err := s.quotaAtRcpt(mb); err != nil {
		s.log.Info("lmtp recipient over quota", "rcpt", to, "err", err)
		return replyErr(err)
	}
	s.mu.Lock()
	s.rcpts = append(s.rcpts, recipient{addr: to, mailbox: mb.ID, name: mb.Name})
	s.mu.Unlock()
	return nil
}

// Data is the SMTP form of DATA; the server runs in LMTP mode, where
// go-smtp calls LMTPData instead.
func (s *session) Data(r io.Reader) error {
	return &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Use LMTP"}
}

// LMTPData writes the message once into the store for every distinct
// mailbox of the transaction, and gives each recipient the outcome for its
// mailbox. No 250 is given before the store has made the message durable.
func (s *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	if !s.srv.stop.Enter() {
		return replyErr(ErrClosing)
	}
	defer s.srv.stop.Leave()
	s.mu.Lock()
	from, rcpts, delivery := s.from, slices.Clone(s.rcpts), s.delivery
	s.mu.Unlock()
	var mailboxes []uint64
	index := make(map[uint64]int)
	names := make(map[uint64]string)
	for _, rc := range rcpts {
		if _, ok := index[rc.mailbox]; !ok {
			index[rc.mailbox] = len(mailboxes)
			mailboxes = append(mailboxes, rc.mailbox)
			names[rc.mailbox] = rc.name
		}
	}
	ctx, cancel := context.WithTimeout(s.srv.ctx, s.srv.cfg.DeliveryTimeout)
	defer cancel()
	ledger, err := s.srv.ledger()
	if err != nil {
		return replyErr(err)
	}
	admit := func(id uint64, size int64) error { return ledger.Admit(names[id], size) }
	ds, err := s.srv.cfg.Store.DeliverOnce(ctx, delivery, mailboxes, readend.Body(r, s.conn.Conn), time.Now(), admit)
	if err != nil {
		s.log.Warn("lmtp delivery failed", "from", from, "recipients", len(rcpts), "err", err)
		return replyErr(err)
	}
	for _, rc := range rcpts {
		d := ds[index[rc.mailbox]]
		if d.Err != nil {
			s.log.Warn("lmtp delivery to mailbox failed", "rcpt", rc.addr, "mailbox", rc.mailbox, "err", d.Err)
		}
		if d.Duplicate {
			s.log.Info("lmtp delivery sent again; it was stored before", "rcpt", rc.addr, "mailbox", rc.mailbox, "delivery", delivery, "uid", d.Message.UID)
		}
		status.SetStatus(rc.addr, rcptStatus(d.Err))
	}
	s.log.Debug("lmtp delivered", "from", from, "recipients", len(rcpts), "mailboxes", len(mailboxes))
	return nil
}

// quotaAtRcpt refuses a recipient whose owner is already at their quota,
// or would pass it with the size MAIL declared. The message itself is
// checked again at DATA, when its size is known.
func (s *session) quotaAtRcpt(mb *fsm.Mailbox) error {
	s.mu.Lock()
	size := s.size
	s.mu.Unlock()
	l, err := s.srv.ledger()
	if err != nil {
		return err
	}
	if size > 0 {
		return l.Admit(mb.Name, size)
	}
	return l.Full(mb.Name)
}

// ledger counts quota usage for one check or one delivery, under the
// local copy's quotas.
func (srv *Server) ledger() (*quota.Ledger, error) {
	v, err := srv.cfg.Directory.Read(srv.ctx, directory.Local)
	if err != nil {
		return nil, fmt.Errorf("lmtpd: quota: %w", err)
	}
	return quota.NewLedger(srv.ctx, v, srv.cfg.Quota), nil
}

// resolve finds the mailbox a recipient address delivers to and checks
// that this backend serves it. A recipient the local copy of the
// directory does not know is looked up again after a synced read: it may
// be newer than the copy.
func (srv *Server) resolve(addr string) (*fsm.Mailbox, error) {
	rcpt, err := fsm.ParseRecipient(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadAddress, err)
	}
	ctx, cancel := context.WithTimeout(srv.ctx, srv.cfg.LookupTimeout)
	defer cancel()
	var terr error
	mb, _, err := directory.Find(ctx, srv.cfg.Directory, directory.Local, func(v *fsm.View) (*fsm.Mailbox, bool) {
		var mb *fsm.Mailbox
		_, mb, terr = v.Deliver(rcpt)
		return mb, !errors.Is(terr, fsm.ErrNoUser) && !errors.Is(terr, fsm.ErrNoMailbox) && !errors.Is(terr, fsm.ErrNoDomain)
	})
	if err != nil && !errors.Is(err, directory.ErrNotFound) {
		return nil, fmt.Errorf("lmtpd: directory read for %q: %w", addr, err)
	}
	if terr != nil {
		return nil, terr
	}
	if mb.Primary.Backend != srv.cfg.BackendID {
		return nil, fmt.Errorf("%w: mailbox %d is on %q", ErrNotHere, mb.ID, mb.Primary.Backend)
	}
	return mb, nil
}
