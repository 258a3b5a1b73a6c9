package imapd

import (
	"io"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/rookery-mail/rookery/spool"
)

// Fetch is FETCH and UID FETCH. Envelopes and body structures come from
// the store's cache; only body sections open the message file. A message
// expunged before the client was told is served from its last record and
// retained file (expunged.go); if those are gone, it is left out and the
// FETCH ends with OK [EXPUNGEISSUED], as Dovecot answers.
func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	if err := s.stillReadable(); err != nil {
		return s.imapError(err)
	}
	sel := s.sel
	targets, ok := sel.st.resolveFetch(sel.tracker, s.staticSearchRes(numSet))
	if !ok {
		targets = s.resolve(numSet)
	}
	if len(targets) == 0 {
		return nil
	}
	recs, err := s.records(sel.mbox.ID, targets)
	if err != nil {
		return s.imapError(err)
	}
	if !sel.readOnly && fetchSetsSeen(options) && s.has(sel.mbox, rightSeen) {
		if err := s.markSeen(targets, recs); err != nil {
			return s.imapError(err)
		}
	}
	origins, oc := binaryOrigins(options), s.originConn()
	missed := false
	for _, t := range targets {
		rec, ok := recs[t.uid]
		if t.expunged {
			rec, ok = s.expungedRecord(t, options)
			missed = missed || !ok
		}
		if !ok || t.seq == 0 {
			continue
		}
		if origins != nil && oc != nil {
			oc.arm(origins)
		}
		err := s.fetchOne(w.CreateMessage(t.seq), rec, options)
		if origins != nil && oc != nil {
			oc.disarm()
		}
		if err != nil {
			return err
		}
	}
	if missed {
		return &imap.Error{Type: imap.StatusResponseTypeOK, Code: "EXPUNGEISSUED", Text: "Some messages were expunged by another session"}
	}
	return nil
}

// expungedRecord is the last record of an expunged message the client
// still has, if it and (when the FETCH needs more than the record) its
// file were kept.
func (s *session) expungedRecord(t target, options *imap.FetchOptions) (spool.Message, bool) {
	if t.gone == nil {
		return spool.Message{}, false
	}
	rec := t.gone.rec
	if !options.Envelope && options.BodyStructure == nil && len(options.BodySection)+len(options.BinarySection)+len(options.BinarySectionSize) == 0 {
		return rec, true
	}
	f, err := s.srv.cfg.Store.Body(rec.GUID)
	if err != nil {
		return spool.Message{}, false
	}
	f.Close()
	return rec, true
}

// originConn is the session's connection if BINARY origins can be added
// to what it writes: not after STARTTLS, whose records it would carry.
func (s *session) originConn() *originConn {
	oc, _ := s.conn.NetConn().(*originConn)
	return oc
}

// fetchSetsSeen reports whether the FETCH reads a body without PEEK,
// which sets \Seen (RFC 3501 section 6.4.5).
func fetchSetsSeen(options *imap.FetchOptions) bool {
	for _, bs := range options.BodySection {
		if !bs.Peek {
			return true
		}
	}
	for _, bs := range options.BinarySection {
		if !bs.Peek {
			return true
		}
	}
	return false
}

// markSeen sets \Seen on the targets that lack it and updates recs, so
// that the FETCH shows the new flags.
func (s *session) markSeen(targets []target, recs map[uint32]spool.Message) error {
	var unseen []uint32
	for _, t := range targets {
		if rec, ok := recs[t.uid]; ok && !hasFlag(rec.Flags, imap.FlagSeen) {
			unseen = append(unseen, t.uid)
		}
	}
	if len(unseen) == 0 {
		return nil
	}
	updated, _, err := s.srv.cfg.Store.StoreFlags(s.sel.mbox.ID, unseen, spool.FlagsAdd, []imap.Flag{imap.FlagSeen}, 0)
	if err != nil {
		return err
	}
	for _, m := range updated {
		recs[m.UID] = m
	}
	s.refreshIfSelected(s.sel.mbox.ID)
	return nil
}

// fetchOne writes one message's FETCH response.
func (s *session) fetchOne(w *imapserver.FetchResponseWriter, rec spool.Message, options *imap.FetchOptions) error {
	store := s.srv.cfg.Store
	w.WriteUID(imap.UID(rec.UID))
	if options.Flags || fetchSetsSeen(options) {
		w.WriteFlags(s.shownFlags(rec))
	}
	if options.InternalDate {
		w.WriteInternalDate(rec.InternalDate)
	}
	if options.RFC822Size {
		w.WriteRFC822Size(rec.Size)
	}
	if options.Envelope {
		env, err := store.Envelope(rec.GUID)
		if err != nil {
			return s.abortFetch(w, err)
		}
		w.WriteEnvelope(env)
	}
	if options.BodyStructure != nil {
		bs, err := store.BodyStructure(rec.GUID, options.BodyStructure.Extended)
		if err != nil {
			return s.abortFetch(w, err)
		}
		w.WriteBodyStructure(bs)
	}
	if len(options.BodySection)+len(options.BinarySection)+len(options.BinarySectionSize) > 0 {
		if err := s.fetchSections(w, rec, options); err != nil {
			return s.abortFetch(w, err)
		}
	}
	return w.Close()
}

// abortFetch ends a FETCH whose response is half written: the connection
// cannot carry on cleanly, so the error goes up as is and go-imap answers
// it after the partial line.
func (s *session) abortFetch(w *imapserver.FetchResponseWriter, err error) error {
	w.Close()
	return s.imapError(err)
}

// fetchSections writes BODY[...] and BINARY[...] items. A whole message is
// streamed from its file; parts are cut out with go-imap's helpers.
func (s *session) fetchSections(w *imapserver.FetchResponseWriter, rec spool.Message, options *imap.FetchOptions) error {
	f, err := s.srv.cfg.Store.Body(rec.GUID)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, bs := range options.BodySection {
		if wholeMessage(bs) {
			if err := writeWhole(w, f, bs, rec.Size); err != nil {
				return err
			}
			continue
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		buf := imapserver.ExtractBodySection(f, bs)
		if err := writeSection(w.WriteBodySection(bs, int64(len(buf))), buf); err != nil {
			return err
		}
	}
	for _, bs := range options.BinarySection {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		buf := imapserver.ExtractBinarySection(f, bs)
		if err := writeSection(w.WriteBinarySection(bs, int64(len(buf))), buf); err != nil {
			return err
		}
	}
	for _, bs := range options.BinarySectionSize {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		w.WriteBinarySectionSize(bs, imapserver.ExtractBinarySectionSize(f, bs))
	}
	return nil
}

func wholeMessage(bs *imap.FetchItemBodySection) bool {
	return len(bs.Part) == 0 && bs.Specifier == imap.PartSpecifierNone
}

// writeWhole streams BODY[] or BODY[]<offset.count> from the file.
func writeWhole(w *imapserver.FetchResponseWriter, f io.ReadSeeker, bs *imap.FetchItemBodySection, size int64) error {
	offset, n := int64(0), size
	if p := bs.Partial; p != nil {
		offset = min(p.Offset, size)
		n = min(p.Size, size-offset)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return err
	}
	wc := w.WriteBodySection(bs, n)
	if _, err := io.CopyN(wc, f, n); err != nil {
		wc.Close()
		return err
	}
	return wc.Close()
}

func writeSection(wc io.WriteCloser, buf []byte) error {
	_, err := wc.Write(buf)
	if cerr := wc.Close(); err == nil {
		err = cerr
	}
	return err
}
