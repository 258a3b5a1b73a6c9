package imapd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/rookery-mail/rookery/backend/quota"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
)

// Create is CREATE, through the backend's mailbox life cycle.
func (s *session) Create(external string, options *imap.CreateOptions) error {
	// "foo/" declares that names will be created under foo: it creates
	// foo (RFC 3501 section 6.3.3).
	if n := len(external); n > 1 && external[n-1] == '/' {
		external = external[:n-1]
	}
	name, err := s.internalName(external)
	if err != nil {
		return s.imapError(err)
	}
	var specialUse string
	if options != nil && len(options.SpecialUse) > 0 {
		if len(options.SpecialUse) > 1 {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: "USEATTR", Text: "One special use per mailbox"}
		}
		var ok bool
		if specialUse, ok = canonicalSpecialUse(string(options.SpecialUse[0])); !ok {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: "USEATTR", Text: "Unknown special-use attribute"}
		}
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.mayCreate(ctx, name); err != nil {
		return s.imapError(err)
	}
	if _, err := s.srv.cfg.Mailboxes.Create(ctx, name, specialUse); err != nil {
		return s.imapError(err)
	}
	return nil
}

// specialUses are the attributes CREATE (USE ...) accepts: RFC 6154's and
// RFC 8457's \Important. Any other is NO [USEATTR] (RFC 6154 section 5.1).
var specialUses = []imap.MailboxAttr{
	imap.MailboxAttrAll, imap.MailboxAttrArchive, imap.MailboxAttrDrafts, imap.MailboxAttrFlagged,
	imap.MailboxAttrJunk, imap.MailboxAttrSent, imap.MailboxAttrTrash, imap.MailboxAttrImportant,
}

// canonicalSpecialUse is attr spelt as the RFC does, if it is one.
func canonicalSpecialUse(attr string) (string, bool) {
	for _, a := range specialUses {
		if strings.EqualFold(attr, string(a)) {
			return string(a), true
		}
	}
	return "", false
}

// Delete is DELETE. The user's INBOX cannot be deleted.
func (s *session) Delete(external string) error {
	name, err := s.internalName(external)
	if err != nil {
		return s.imapError(err)
	}
	if name == fsm.Inbox(s.user) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "INBOX cannot be deleted"}
	}
	ctx, cancel := s.ctx()
	defer cancel()
	m, err := s.findMailbox(ctx, name, exists)
	if err != nil {
		return s.imapError(err)
	}
	if err := s.allowed(m, string(rightDelete)); err != nil {
		return s.imapError(err)
	}
	if m.Primary.Backend != s.srv.cfg.BackendID {
		return s.imapError(fmt.Errorf("%w: %s", ErrNotHere, name))
	}
	return s.imapError(s.srv.cfg.Mailboxes.Delete(ctx, name))
}

// Rename is RENAME: a directory change, since the spool knows mailboxes
// by id.
func (s *session) Rename(external, newExternal string, _ *imap.RenameOptions) error {
	from, err := s.internalName(external)
	if err != nil {
		return s.imapError(err)
	}
	to, err := s.internalName(newExternal)
	if err != nil {
		return s.imapError(err)
	}
	ctx, cancel := s.ctx()
	defer cancel()
	m, err := s.findMailbox(ctx, from, exists)
	if err != nil {
		return s.imapError(err)
	}
	if err := s.allowed(m, string(rightDelete)); err != nil {
		return s.imapError(err)
	}
	if err := s.mayCreate(ctx, to); err != nil {
		return s.imapError(err)
	}
	return s.imapError(s.srv.cfg.Mailboxes.Rename(ctx, from, to))
}

// Subscribe and Unsubscribe change the user's subscriptions in the
// directory, where LSUB on any frontend finds them.
func (s *session) Subscribe(external string) error {
	return s.subscription(external, true)
}

func (s *session) Unsubscribe(external string) error {
	return s.subscription(external, false)
}

func (s *session) subscription(external string, on bool) error {
	name, err := s.internalName(external)
	if err != nil {
		return s.imapError(err)
	}
	var cmd fsm.Command = fsm.Subscribe{User: s.user, Name: name}
	if !on {
		cmd = fsm.Unsubscribe{User: s.user, Name: name}
	}
	ctx, cancel := s.ctx()
	defer cancel()
	return s.imapError(s.apply(ctx, cmd))
}

// apply proposes cmd and waits until the local directory copy shows it,
// so that the session's next command sees its own write.
func (s *session) apply(ctx context.Context, cmd fsm.Command) error {
	dir := s.srv.cfg.Directory
	res, err := dir.Apply(ctx, cmd)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	if res.Err != nil {
		return res.Err
	}
	if err := dir.WaitApplied(ctx, res.Index); err != nil {
		return fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	return nil
}

// Status is STATUS, for a mailbox served here.
func (s *session) Status(external string, options *imap.StatusOptions) (*imap.StatusData, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	m, err := s.openable(ctx, external, string(rightRead))
	if err != nil {
		return nil, s.imapError(err)
	}
	data, err := s.statusData(m, options)
	if err != nil {
		return nil, s.imapError(err)
	}
	data.Mailbox = external
	return data, nil
}

func (s *session) statusData(m *fsm.Mailbox, options *imap.StatusOptions) (*imap.StatusData, error) {
	st, err := s.srv.cfg.Store.Status(m.ID)
	if err != nil {
		return nil, err
	}
	data := &imap.StatusData{UIDValidity: m.UIDValidity, UIDNext: imap.UID(st.UIDNext)}
	if options.NumMessages {
		data.NumMessages = &st.Messages
	}
	if options.NumUnseen {
		data.NumUnseen = &st.Unseen
	}
	if options.Size {
		data.Size = &st.Size
	}
	if options.NumRecent {
		data.NumRecent = &st.Recent
	}
	if options.AppendLimit {
		limit := uint32(s.srv.cfg.MaxMessageBytes)
		data.AppendLimit = &limit
	}
	if options.HighestModSeq {
		data.HighestModSeq = st.HighestModSeq
	}
	if options.NumDeleted {
		msgs, err := s.srv.cfg.Store.Messages(m.ID)
		if err != nil {
			return nil, err
		}
		var n uint32
		for _, msg := range msgs {
			if hasFlag(msg.Flags, imap.FlagDeleted) {
				n++
			}
		}
		data.NumDeleted = &n
	}
	return data, nil
}

// appendTimeout bounds one APPEND, matching go-imap's literal read timeout.
const appendTimeout = 5 * time.Minute

// Append is APPEND: the message is on disk, fsynced, before the reply.
func (s *session) Append(external string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	m, err := s.openable(ctx, external, string(rightInsert))
	if err != nil {
		return nil, s.destError(err)
	}
	if err := s.checkQuota(m, r.Size()); err != nil {
		return nil, s.imapError(err)
	}
	// The body streams from the client while the store writes it, so the
	// append gets the literal's time, not a directory call's.
	actx, acancel := context.WithTimeout(context.Background(), appendTimeout)
	defer acancel()
	msg, err := s.srv.cfg.Store.Append(actx, spool.AppendRequest{
		Mailbox:      m.ID,
		Flags:        storableFlags(options.Flags),
		InternalDate: options.Time,
		Body:         r,
		// A literal cut off by a client that went away is not a message.
		Size: r.Size(),
	})
	if err != nil {
		return nil, s.destError(err)
	}
	s.refreshIfSelected(m.ID)
	return &imap.AppendData{UIDValidity: m.UIDValidity, UID: imap.UID(msg.UID)}, nil
}

// checkQuota refuses a message of n bytes that would take the mailbox
// owner's mail on every backend past their quota.
func (s *session) checkQuota(m *fsm.Mailbox, n int64) error {
	l, err := s.ledger()
	if err != nil {
		return err
	}
	return l.Admit(m.Name, n)
}

// checkQuotaOf refuses to copy uids of src into dst past the quota of
// dst's owner.
func (s *session) checkQuotaOf(src *fsm.Mailbox, uids []uint32, dst *fsm.Mailbox) error {
	n, err := s.srv.cfg.Store.Size(src.ID, uids)
	if err != nil {
		return err
	}
	return s.checkQuota(dst, n)
}

// ledger counts quota usage for one command, under the local copy's quotas.
func (s *session) ledger() (*quota.Ledger, error) {
	v, err := s.srv.cfg.Directory.Read(context.Background(), directory.Local)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	return quota.NewLedger(context.Background(), v, s.srv.cfg.Quota), nil
}
