package imapd

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/rookery-mail/rookery/spool"
)

// resolve is mailboxState.resolve for the session's selected mailbox, with
// "$" (SEARCHRES) replaced by the saved result.
func (s *session) resolve(numSet imap.NumSet) []target {
	return s.sel.st.resolve(s.sel.tracker, s.staticSearchRes(numSet))
}

func (s *session) staticSearchRes(numSet imap.NumSet) imap.NumSet {
	if imap.IsSearchRes(numSet) {
		return append(imap.UIDSet{}, s.sel.searchRes...)
	}
	return numSet
}

// Search is SEARCH and UID SEARCH. Index fields (flags, dates, sizes,
// UIDs) come from the index; header and text criteria read the message
// file, and only for messages the cheaper criteria left in.
func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	if err := s.stillReadable(); err != nil {
		return nil, s.imapError(err)
	}
	sel := s.sel
	s.staticCriteria(criteria)
	targets := sel.st.all(sel.tracker)
	recs, err := s.records(sel.mbox.ID, targets)
	if err != nil {
		return nil, s.imapError(err)
	}
	var (
		data   imap.SearchData
		seqSet imap.SeqSet
		uidSet imap.UIDSet // exact, for SEARCHRES
		run    uidRun      // compacted over UIDs that do not exist
	)
	for _, t := range targets {
		rec, ok := recs[t.uid]
		if !ok || t.seq == 0 {
			run.open = false
			continue
		}
		rec.Flags = sel.recent.withRecent(rec.UID, rec.Flags) // RECENT, NEW, OLD
		c := &candidate{seq: t.seq, rec: rec, store: s.srv.cfg.Store}
		if !c.match(criteria) {
			run.open = false
			continue
		}
		uidSet.AddNum(imap.UID(t.uid))
		run.add(t.uid, true)
		num := t.seq
		if kind == imapserver.NumKindUID {
			num = t.uid
		}
		seqSet.AddNum(t.seq)
		if data.Min == 0 || num < data.Min {
			data.Min = num
		}
		data.Max = max(data.Max, num)
		data.Count++
	}
	if kind == imapserver.NumKindUID {
		data.All = uidSet
		if s.extendedSearch(options) {
			data.All = run.set
		}
	} else {
		data.All = seqSet
	}
	if options.ReturnSave {
		sel.searchRes = uidSet
	}
	return &data, nil
}

// extendedSearch reports whether the answer is surely ESEARCH, whose ALL
// is a set; a plain SEARCH lists every number of the set, so a compacted
// set would name UIDs with no message. go-imap does not tell the session
// which one it writes: RETURN () and RETURN (ALL) look like a plain
// SEARCH and get the exact set.
func (s *session) extendedSearch(options *imap.SearchOptions) bool {
	return s.conn.EnabledCaps().Has(imap.CapIMAP4rev2) ||
		options.ReturnMin || options.ReturnMax || options.ReturnCount || options.ReturnSave
}

// staticCriteria resolves "*" and "$" in the criteria's number sets.
func (s *session) staticCriteria(criteria *imap.SearchCriteria) {
	seqs := criteria.SeqNum[:0:0]
	for _, set := range criteria.SeqNum {
		switch set := s.staticSet(set).(type) {
		case imap.SeqSet:
			seqs = append(seqs, set)
		case imap.UIDSet:
			criteria.UID = append(criteria.UID, set)
		}
	}
	criteria.SeqNum = seqs
	for i, set := range criteria.UID {
		criteria.UID[i] = s.staticSet(set).(imap.UIDSet)
	}
	for i := range criteria.Not {
		s.staticCriteria(&criteria.Not[i])
	}
	for i := range criteria.Or {
		s.staticCriteria(&criteria.Or[i][0])
		s.staticCriteria(&criteria.Or[i][1])
	}
}

func (s *session) staticSet(set imap.NumSet) imap.NumSet {
	set = s.staticSearchRes(set)
	st := s.sel.st
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.staticLocked(set)
}

// candidate is one message under test; its file is read at most once.
type candidate struct {
	seq   uint32
	rec   spool.Message
	store *spool.Store
	body  []byte
	read  bool
}

func (c *candidate) match(cr *imap.SearchCriteria) bool {
	return c.matchIndex(cr) && c.matchContent(cr)
}

// matchIndex tests the criteria the index answers, recursing into NOT and
// OR in full (they may mix both kinds).
func (c *candidate) matchIndex(cr *imap.SearchCriteria) bool {
	for _, set := range cr.SeqNum {
		if !set.Contains(c.seq) {
			return false
		}
	}
	for _, set := range cr.UID {
		if !set.Contains(imap.UID(c.rec.UID)) {
			return false
		}
	}
	if !matchDate(c.rec.InternalDate, cr.Since, cr.Before) {
		return false
	}
	for _, f := range cr.Flag {
		if !hasFlag(c.rec.Flags, f) {
			return false
		}
	}
	for _, f := range cr.NotFlag {
		if hasFlag(c.rec.Flags, f) {
			return false
		}
	}
	if cr.Larger != 0 && c.rec.Size <= cr.Larger {
		return false
	}
	if cr.Smaller != 0 && c.rec.Size >= cr.Smaller {
		return false
	}
	if cr.ModSeq != nil && c.rec.ModSeq < cr.ModSeq.ModSeq {
		return false
	}
	for i := range cr.Not {
		if c.match(&cr.Not[i]) {
			return false
		}
	}
	for _, or := range cr.Or {
		if !c.match(&or[0]) && !c.match(&or[1]) {
			return false
		}
	}
	return true
}

// matchContent tests header, date-sent and text criteria on the message.
func (c *candidate) matchContent(cr *imap.SearchCriteria) bool {
	if len(cr.Header) == 0 && len(cr.Body) == 0 && len(cr.Text) == 0 && cr.SentSince.IsZero() && cr.SentBefore.IsZero() {
		return true
	}
	body := c.load()
	if body == nil {
		return false
	}
	hdr, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(body)))
	if err != nil {
		return false
	}
	header := mail.Header{Header: gomessage.Header{Header: hdr}}
	for _, f := range cr.Header {
		if !matchHeaderFields(header.FieldsByKey(f.Key), f.Value, isAddressKey(f.Key)) {
			return false
		}
	}
	if !cr.SentSince.IsZero() || !cr.SentBefore.IsZero() {
		t, err := header.Date()
		if err != nil || !matchDate(t, cr.SentSince, cr.SentBefore) {
			return false
		}
	}
	for _, text := range cr.Text {
		if !matchEntity(entity(body), text, true) {
			return false
		}
	}
	for _, text := range cr.Body {
		if !matchEntity(entity(body), text, false) {
			return false
		}
	}
	return true
}

// load reads the message file; a message that cannot be read matches no
// content criterion.
func (c *candidate) load() []byte {
	if c.read {
		return c.body
	}
	c.read = true
	f, err := c.store.Body(c.rec.GUID)
	if err != nil {
		return nil
	}
	defer f.Close()
	c.body, _ = io.ReadAll(f)
	return c.body
}

func entity(body []byte) *gomessage.Entity {
	e, _ := gomessage.Read(bytes.NewReader(body))
	if e == nil {
		e, _ = gomessage.New(gomessage.Header{}, bytes.NewReader(nil))
	}
	return e
}

// matchDate compares dates only, without time or zone (RFC 3501 6.4.4).
func matchDate(t, since, before time.Time) bool {
	t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if !since.IsZero() && t.Before(since) {
		return false
	}
	return before.IsZero() || t.Before(before)
}

// matchHeaderFields looks for pattern, without case, in the fields with
// RFC 2047 encoded words decoded (as sent when they cannot be). An
// address field (FROM, TO, CC, BCC) also matches on each address as
// "name <address>", the name decoded and unquoted, as Dovecot does.
func matchHeaderFields(fields gomessage.HeaderFields, pattern string, address bool) bool {
	if pattern == "" {
		return fields.Len() > 0
	}
	pattern = strings.ToLower(pattern)
	for fields.Next() {
		v, err := fields.Text()
		if err != nil {
			v = fields.Value()
		}
		forms := []string{v}
		if address {
			addrs, _ := mail.ParseAddressList(fields.Value())
			for _, a := range addrs {
				forms = append(forms, a.Name+" <"+a.Address+">")
			}
		}
		for _, v := range forms {
			if strings.Contains(strings.ToLower(v), pattern) {
				return true
			}
		}
	}
	return false
}

// isAddressKey reports whether a SEARCH header key names an address field.
func isAddressKey(key string) bool {
	switch strings.ToLower(key) {
	case "from", "to", "cc", "bcc", "sender", "reply-to":
		return true
	}
	return false
}

// matchEntity looks for pattern, case-insensitively, in the text parts of
// e and, with header, in the headers of every part.
func matchEntity(e *gomessage.Entity, pattern string, header bool) bool {
	if pattern == "" {
		return true
	}
	if header && matchHeaderFields(e.Header.Fields(), pattern, false) {
		return true
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			part, err := mr.NextPart()
			if err != nil {
				return false
			}
			if matchEntity(part, pattern, header) {
				return true
			}
		}
	}
	t, _, err := e.Header.ContentType()
	if err != nil && t == "" {
		t = "text/plain"
	}
	if !strings.HasPrefix(t, "text/") && !strings.HasPrefix(t, "message/") {
		return false
	}
	buf, err := io.ReadAll(e.Body)
	if err != nil {
		return false
	}
	return bytes.Contains(bytes.ToLower(buf), []byte(strings.ToLower(pattern)))
}
