package backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/rookery-mail/rookery/backend/quota"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/clusterapi"
	"github.com/rookery-mail/rookery/internal/multiappend"
	"github.com/rookery-mail/rookery/spool"
)

// appendTimeout bounds the read of one message of a MULTIAPPEND, as the
// backend's IMAP server bounds an APPEND's literal.
const appendTimeout = 5 * time.Minute

// MULTIAPPEND's route (internal/multiappend): a frontend streams the
// messages of one APPEND, and the spool stores them in one commit or
// none. The frontend has checked the user's right to insert; the cluster
// API has checked that the caller is a node.

func (b *Backend) apiMultiAppend(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("mailbox"), 10, 64)
	if err != nil || id == 0 {
		clusterapi.WriteError(w, multiappend.Codes, fmt.Errorf("%w: mailbox id %q", multiappend.ErrInvalid, r.PathValue("mailbox")))
		return
	}
	m, v, err := b.appendTarget(r.Context(), id)
	if err != nil {
		clusterapi.WriteError(w, multiappend.Codes, err)
		return
	}
	br := multiappend.NewReader(r.Body)
	// The API server bounds a request's read to a minute; a stream of
	// messages, each read as the client sends it, gets appendTimeout for
	// each, as one APPEND's literal does.
	rc := http.NewResponseController(w)
	count := 0
	next := func() (spool.AppendRequest, bool, error) {
		if err := rc.SetReadDeadline(time.Now().Add(appendTimeout)); err != nil {
			return spool.AppendRequest{}, false, fmt.Errorf("%w: %w", multiappend.ErrUnavailable, err)
		}
		h, err := multiappend.ReadHeader(br)
		if err != nil {
			return spool.AppendRequest{}, false, err
		}
		if h.End {
			return spool.AppendRequest{}, false, nil
		}
		if count++; count > multiappend.MaxMessages {
			return spool.AppendRequest{}, false, fmt.Errorf("%w: over %d messages", multiappend.ErrInvalid, multiappend.MaxMessages)
		}
		if h.Size > b.cfg.MaxMessageBytes {
			return spool.AppendRequest{}, false, fmt.Errorf("%w: %d bytes, at most %d", multiappend.ErrTooBig, h.Size, b.cfg.MaxMessageBytes)
		}
		flags := make([]imap.Flag, 0, len(h.Flags))
		for _, f := range h.Flags {
			if !strings.EqualFold(f, `\Recent`) { // the server's to set, never stored
				flags = append(flags, imap.Flag(f))
			}
		}
		// The body is read whole, exactly h.Size bytes, before the next
		// header: a stream that ends sooner stores nothing.
		return spool.AppendRequest{Mailbox: id, Flags: flags, InternalDate: h.Date, Body: br, Size: h.Size}, true, nil
	}
	ledger := quota.NewLedger(r.Context(), v, b.quota)
	msgs, err := b.cfg.Store.AppendAll(r.Context(), id, next, func(total int64) error { return ledger.Admit(m.Name, total) })
	if err != nil {
		clusterapi.WriteError(w, multiappend.Codes, multiAppendError(err))
		return
	}
	out := multiappend.Reply{UIDValidity: m.UIDValidity, UIDs: make([]uint32, len(msgs))}
	for i, msg := range msgs {
		out.UIDs[i] = msg.UID
	}
	clusterapi.WriteJSON(w, http.StatusOK, out)
}

// appendTarget is mailbox id when this backend serves its writes, after
// a synced read if the local copy says otherwise (the frontend's copy may
// be ahead of this one, just after a failover or a move).
func (b *Backend) appendTarget(ctx context.Context, id uint64) (*fsm.Mailbox, *fsm.View, error) {
	here := func(m *fsm.Mailbox, ok bool) bool {
		return ok && m.State == fsm.Active && m.Primary.Backend == b.cfg.ID
	}
	v, err := b.cfg.Directory.Read(ctx, directory.Local)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", multiappend.ErrUnavailable, err)
	}
	m, ok := v.MailboxByID(id)
	if !here(m, ok) {
		if v, err = b.cfg.Directory.Read(ctx, directory.Synced); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", multiappend.ErrUnavailable, err)
		}
		m, ok = v.MailboxByID(id)
	}
	switch {
	case !ok:
		return nil, nil, fmt.Errorf("%w: mailbox %d", multiappend.ErrNoMailbox, id)
	case m.State != fsm.Active:
		return nil, nil, fmt.Errorf("%w: mailbox %d is %s", multiappend.ErrUnavailable, id, m.State)
	case m.Primary.Backend != b.cfg.ID:
		return nil, nil, fmt.Errorf("%w: mailbox %d is on %s", multiappend.ErrNotPrimary, id, m.Primary.Backend)
	}
	return m, v, nil
}

// multiAppendError names err by the route's codes; an error the spool
// may recover from is worth a retry.
func multiAppendError(err error) error {
	var sentinel error
	switch {
	case errors.Is(err, multiappend.ErrInvalid), errors.Is(err, multiappend.ErrTooBig):
		return err
	case errors.Is(err, spool.ErrInvalidFlag), errors.Is(err, spool.ErrShortBody):
		sentinel = multiappend.ErrInvalid
	case errors.Is(err, spool.ErrTooBig):
		sentinel = multiappend.ErrTooBig
	case errors.Is(err, spool.ErrNoMailbox):
		sentinel = multiappend.ErrNoMailbox
	case errors.Is(err, quota.ErrOver):
		sentinel = multiappend.ErrOverQuota
	case errors.Is(err, quota.ErrUnavailable), spool.Temporary(err), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		sentinel = multiappend.ErrUnavailable
	default:
		return err
	}
	return fmt.Errorf("%w: %w", sentinel, err)
}
