package imapd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
)

// selection is the session's selected mailbox: the shared state and this
// session's own view of it (the tracker holds the updates not yet sent).
type selection struct {
	mbox      *fsm.Mailbox // the directory record at SELECT time
	st        *mailboxState
	tracker   *imapserver.SessionTracker
	readOnly  bool
	searchRes imap.UIDSet // saved by SEARCH RETURN (SAVE)
	recent    recency
	// told is the keywords the client has had in a FLAGS response; a
	// FETCH shows no other (see keywordSet.filter).
	told keywordSet
}

// systemFlags are the flags every mailbox offers; keywords may be added.
var systemFlags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft}

// Select is SELECT and EXAMINE.
func (s *session) Select(external string, options *imap.SelectOptions) (*imap.SelectData, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	m, err := s.openable(ctx, external, string(rightRead))
	if err != nil {
		return nil, s.imapError(err)
	}
	status, err := s.srv.cfg.Store.Status(m.ID)
	if err != nil {
		return nil, s.imapError(err)
	}
	st, err := s.srv.openMailbox(m.ID)
	if err != nil {
		return nil, s.imapError(err)
	}
	tracker, n, firstUnseen, keywords := st.newSession()
	s.sel = &selection{mbox: m, st: st, tracker: tracker, readOnly: options.ReadOnly, told: keywords}
	s.selected.Store(m.ID)
	if _, err := s.claimRecent(); err != nil {
		s.unselect()
		return nil, s.imapError(err)
	}
	var permanent []imap.Flag
	if !options.ReadOnly {
		all := append(keywords.mailboxFlags(), imap.FlagWildcard)
		permanent = s.storable(m, all)
		if len(permanent) < len(all) {
			// A grant acknowledged elsewhere may not have reached this
			// copy: offer what a synced read allows, as STORE checks.
			if synced, err := s.syncedRecord(ctx, m.Name); err == nil && synced.ID == m.ID {
				permanent = s.storable(synced, all)
			}
		}
	}
	return &imap.SelectData{
		Flags:          keywords.mailboxFlags(),
		PermanentFlags: permanent,
		NumMessages:    n,
		// RFC 3501 section 6.3.1 requires it, IMAP4rev2 dropped it.
		FirstUnseenSeqNum: firstUnseen,
		NumRecent:         s.numRecent(),
		UIDNext:           imap.UID(status.UIDNext),
		UIDValidity:       m.UIDValidity,
		HighestModSeq:     status.HighestModSeq,
	}, nil
}

// stillReadable brings the selected mailbox's record up to date from a
// fresh read of the directory and checks that the user may still read it:
// rights revoked after SELECT take hold within the directory's staleness
// bound (StaleAfter), at the session's next command.
func (s *session) stillReadable() error {
	ctx, cancel := s.ctx()
	defer cancel()
	v, err := s.srv.cfg.Directory.Read(ctx, directory.Fresh)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	if m, ok := v.MailboxByID(s.sel.mbox.ID); ok {
		s.sel.mbox = m
	}
	return s.allowed(s.sel.mbox, string(rightRead))
}

// Unselect is UNSELECT, and CLOSE after its silent expunge.
func (s *session) Unselect() error {
	s.unselect()
	return nil
}

func (s *session) unselect() {
	s.release(s.sel)
	s.sel = nil
}

// release lets go of sel's tracker and open mailbox state.
func (s *session) release(sel *selection) {
	sel.st.forget(sel.tracker)
	sel.tracker.Close()
	s.srv.closeMailbox(sel.st)
	s.selected.Store(0)
}

// refreshIfSelected brings the session's own view up to date after it
// changed mailbox id, so that its next response already shows the change.
func (s *session) refreshIfSelected(id uint64) {
	if s.sel == nil || s.sel.mbox.ID != id {
		return
	}
	if err := s.sel.st.refresh(s.sel.tracker); err != nil {
		s.srv.log.Warn("refresh of selected mailbox failed", "mailbox_id", id, "err", err)
	}
}

// Poll writes the updates queued for this session. A change the store has
// reported but refreshLoop has not yet worked off is applied first.
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if s.sel == nil {
		return nil
	}
	if s.srv.takeStale(s.sel.st) {
		if err := s.sel.st.refresh(nil); err != nil {
			s.srv.log.Warn("refresh of selected mailbox failed", "mailbox_id", s.sel.mbox.ID, "err", err)
		}
	}
	// Whatever FLAGS the tracker holds for this session goes out now.
	if s.sel.st.numKeywords() != len(s.sel.told.list) {
		s.sel.told = s.sel.st.knownKeywords()
	}
	// Claimed before the tracker writes the EXISTS of the messages it
	// claims, counted after, so RECENT follows EXISTS.
	grew, err := s.claimRecent()
	if err != nil {
		s.srv.log.Warn("claim of recent messages failed", "mailbox_id", s.sel.mbox.ID, "err", err)
	}
	gen := s.sel.st.expungeGen()
	if err := s.sel.tracker.Poll(w, allowExpunge); err != nil {
		return err
	}
	if allowExpunge {
		// Every EXPUNGE queued by gen has been written.
		s.sel.st.told(s.sel.tracker, gen)
	}
	if grew {
		return w.WriteNumRecent(s.numRecent())
	}
	return nil
}

// Idle is IDLE: updates are written as refreshLoop queues them.
func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	if s.sel == nil {
		<-stop
		return nil
	}
	return s.sel.tracker.Idle(w, stop)
}

// Expunge is EXPUNGE, UID EXPUNGE and the expunge of CLOSE. Only messages
// the client knows are removed; the EXPUNGE responses go out through the
// tracker, in the numbering the client has.
func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	if err := s.stillReadable(); err != nil {
		return s.imapError(err)
	}
	sel := s.sel
	if sel.readOnly {
		if *w == (imapserver.ExpungeWriter{}) {
			return nil // CLOSE of an EXAMINEd mailbox expunges nothing
		}
		return s.imapError(ErrReadOnly)
	}
	if err := s.allowed(sel.mbox, string(rightExpunge)); err != nil {
		return s.imapError(err)
	}
	var targets []target
	if uids != nil {
		targets = sel.st.resolve(sel.tracker, *uids)
	} else {
		targets = sel.st.all(sel.tracker)
	}
	recs, err := s.records(sel.mbox.ID, targets)
	if err != nil {
		return s.imapError(err)
	}
	var doomed []uint32
	for _, t := range targets {
		if rec, ok := recs[t.uid]; ok && t.seq != 0 && hasFlag(rec.Flags, imap.FlagDeleted) {
			doomed = append(doomed, t.uid)
		}
	}
	if len(doomed) == 0 {
		return nil
	}
	if _, err := s.srv.cfg.Store.Expunge(sel.mbox.ID, doomed); err != nil {
		return s.imapError(err)
	}
	s.refreshIfSelected(sel.mbox.ID)
	return nil
}

// Store is STORE and UID STORE.
func (s *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) error {
	if err := s.stillReadable(); err != nil {
		return s.imapError(err)
	}
	sel := s.sel
	if sel.readOnly {
		return s.imapError(ErrReadOnly)
	}
	want := flagRights(flags.Flags)
	if flags.Op == imap.StoreFlagsSet {
		// FLAGS replaces every flag, so it may take away any of them.
		want += string([]rune{rightSeen, rightDeleteMsgs, rightWrite})
	}
	if err := s.allowed(sel.mbox, want); err != nil {
		return s.imapError(err)
	}
	targets := sel.st.resolve(sel.tracker, numSet)
	if len(targets) == 0 {
		return nil
	}
	// A keyword the client has not had in FLAGS must reach it in a FLAGS
	// response first, which only the tracker can write: then the tracker
	// carries this STORE's FETCH responses too, after that FLAGS.
	viaTracker := flags.Op != imap.StoreFlagsDel && !sel.told.knowsAll(flags.Flags)
	uids := make([]uint32, len(targets))
	for i, t := range targets {
		uids[i] = t.uid
	}
	op := map[imap.StoreFlagsOp]spool.FlagOp{
		imap.StoreFlagsAdd: spool.FlagsAdd,
		imap.StoreFlagsDel: spool.FlagsDel,
		imap.StoreFlagsSet: spool.FlagsSet,
	}[flags.Op]
	_, _, err := s.srv.cfg.Store.StoreFlags(sel.mbox.ID, uids, op, storableFlags(flags.Flags), options.UnchangedSince)
	if err != nil {
		return s.imapError(err)
	}
	source := sel.tracker
	if viaTracker {
		source = nil
	}
	if err := sel.st.refresh(source); err != nil {
		s.srv.log.Warn("refresh of selected mailbox failed", "mailbox_id", sel.mbox.ID, "err", err)
	}
	if flags.Silent || viaTracker {
		return nil
	}
	recs, err := s.records(sel.mbox.ID, targets)
	if err != nil {
		return s.imapError(err)
	}
	for _, t := range targets {
		rec, ok := recs[t.uid]
		if !ok || t.seq == 0 {
			continue
		}
		mw := w.CreateMessage(t.seq)
		mw.WriteUID(imap.UID(t.uid))
		mw.WriteFlags(s.shownFlags(rec))
		if err := mw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// storable is the flags the user may store in m: \Seen needs s, \Deleted
// t, every other flag (and new keywords, \*) w (RFC 4314 section 4).
func (s *session) storable(m *fsm.Mailbox, flags []imap.Flag) []imap.Flag {
	out := make([]imap.Flag, 0, len(flags))
	for _, f := range flags {
		if s.allowed(m, flagRights([]imap.Flag{f})) == nil {
			out = append(out, f)
		}
	}
	return out
}

// flagRights is the rights a change of flags needs (RFC 4314 section 4).
func flagRights(flags []imap.Flag) string {
	var want strings.Builder
	for _, f := range flags {
		switch {
		case strings.EqualFold(string(f), string(imap.FlagSeen)):
			want.WriteRune(rightSeen)
		case strings.EqualFold(string(f), string(imap.FlagDeleted)):
			want.WriteRune(rightDeleteMsgs)
		default:
			want.WriteRune(rightWrite)
		}
	}
	return want.String()
}

// Copy is COPY and UID COPY, with COPYUID. The store shares the message
// files: nothing is copied but index records.
func (s *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	if err := s.stillReadable(); err != nil {
		return nil, s.imapError(err)
	}
	ctx, cancel := s.ctx()
	defer cancel()
	dst, err := s.openable(ctx, dest, string(rightInsert))
	if err != nil {
		return nil, s.destError(err)
	}
	uids := s.targetUIDs(numSet)
	if len(uids) == 0 {
		return &imap.CopyData{UIDValidity: dst.UIDValidity}, nil
	}
	if err := s.checkQuotaOf(s.sel.mbox, uids, dst); err != nil {
		return nil, s.imapError(err)
	}
	pairs, err := s.srv.cfg.Store.Copy(ctx, s.sel.mbox.ID, uids, dst.ID)
	if err != nil {
		return nil, s.destError(err)
	}
	s.refreshIfSelected(dst.ID)
	return copyData(dst, s.sel.st, pairs), nil
}

// Move is MOVE and UID MOVE: copy and expunge in one store commit. The
// EXPUNGE responses follow the COPYUID through the tracker. A move to the
// mailbox the messages are in gives them new UIDs, as Dovecot does: the
// client hears COPYUID, the old UIDs' EXPUNGE and the new EXISTS.
func (s *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	if err := s.stillReadable(); err != nil {
		return s.imapError(err)
	}
	sel := s.sel
	if sel.readOnly {
		return s.imapError(ErrReadOnly)
	}
	if err := s.allowed(sel.mbox, string([]rune{rightDeleteMsgs, rightExpunge})); err != nil {
		return s.imapError(err)
	}
	ctx, cancel := s.ctx()
	defer cancel()
	dst, err := s.openable(ctx, dest, string(rightInsert))
	if err != nil {
		return s.destError(err)
	}
	uids := s.targetUIDs(numSet)
	if len(uids) == 0 {
		return nil
	}
	// A move within one user's mailboxes leaves their usage as it was.
	if fsm.Owner(sel.mbox.Name) != fsm.Owner(dst.Name) {
		if err := s.checkQuotaOf(sel.mbox, uids, dst); err != nil {
			return s.imapError(err)
		}
	}
	pairs, err := s.srv.cfg.Store.Move(ctx, sel.mbox.ID, uids, dst.ID)
	if err != nil {
		return s.destError(err)
	}
	if err := w.WriteCopyData(copyData(dst, s.sel.st, pairs)); err != nil {
		return err
	}
	s.refreshIfSelected(sel.mbox.ID)
	return nil
}

func (s *session) targetUIDs(numSet imap.NumSet) []uint32 {
	var uids []uint32
	for _, t := range s.sel.st.resolve(s.sel.tracker, s.staticSearchRes(numSet)) {
		uids = append(uids, t.uid)
	}
	return uids
}

// records reads the index records of targets, keyed by UID. Few are read
// one by one; many in one scan of the mailbox. A message expunged since
// the client learned of it is simply absent.
func (s *session) records(id uint64, targets []target) (map[uint32]spool.Message, error) {
	out := make(map[uint32]spool.Message, len(targets))
	if len(targets) <= 16 {
		for _, t := range targets {
			m, err := s.srv.cfg.Store.Message(id, t.uid)
			if err == nil {
				out[t.uid] = m
			} else if !isNoMessage(err) {
				return nil, err
			}
		}
		return out, nil
	}
	msgs, err := s.srv.cfg.Store.Messages(id)
	if err != nil {
		return nil, err
	}
	want := make(map[uint32]bool, len(targets))
	for _, t := range targets {
		want[t.uid] = true
	}
	for _, m := range msgs {
		if want[m.UID] {
			out[m.UID] = m
		}
	}
	return out, nil
}

// storableFlags drops \Recent, which clients may not set (RFC 3501
// section 2.3.2).
func storableFlags(flags []imap.Flag) []imap.Flag {
	out := make([]imap.Flag, 0, len(flags))
	for _, f := range flags {
		if !strings.EqualFold(string(f), `\Recent`) {
			out = append(out, f)
		}
	}
	return out
}

func hasFlag(flags []imap.Flag, want imap.Flag) bool {
	for _, f := range flags {
		if strings.EqualFold(string(f), string(want)) {
			return true
		}
	}
	return false
}

func isNoMessage(err error) bool {
	return errors.Is(err, spool.ErrNoMessage)
}
