package bench

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// mailboxModel is what a client knows its mailbox holds: it alone changes
// the mailbox, so the server's every answer must agree with it.
type mailboxModel struct {
	msgs        []modelMsg // in sequence-number order
	uidValidity uint32
	maxUID      imap.UID // the highest UID ever seen here, expunged or not
	// lost is set after a violation: the model may no longer match, so
	// the client re-reads the mailbox before it checks anything else.
	lost bool
}

type modelMsg struct {
	uid              imap.UID
	msgID            string
	size             int64
	flagged, deleted bool
}

// fail records a violation and marks the model for a re-read.
func (cl *imapClient) fail(format string, args ...any) {
	cl.box.lost = true
	cl.chk.fail("client %d, mailbox %s: %s", cl.id, cl.mailbox, fmt.Sprintf(format, args...))
}

// checkCount compares the server's message count (EXISTS minus EXPUNGE
// responses) with the model.
func (cl *imapClient) checkCount(after string) {
	if n := cl.exists.Load(); n != int64(len(cl.box.msgs)) {
		cl.fail("after %s the server reports %d messages, the client expects %d", after, n, len(cl.box.msgs))
	}
}

func (cl *imapClient) list() error {
	var found bool
	err := cl.timed("list", func() error {
		boxes, err := cl.c.List("", "*", nil).Collect()
		for _, b := range boxes {
			found = found || b.Mailbox == cl.mailbox
		}
		return err
	})
	if err == nil && cl.created && !found {
		cl.fail("LIST does not show the mailbox")
	}
	return err
}

func (cl *imapClient) status() error {
	var st *imap.StatusData
	err := cl.timed("status", func() (err error) {
		st, err = cl.c.Status(cl.mailbox, &imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true}).Wait()
		return err
	})
	if err != nil || cl.box.lost {
		return err
	}
	if st.NumMessages != nil && int(*st.NumMessages) != len(cl.box.msgs) {
		cl.fail("STATUS MESSAGES %d, the client expects %d", *st.NumMessages, len(cl.box.msgs))
	}
	if st.UIDNext != 0 && st.UIDNext <= cl.box.maxUID {
		cl.fail("STATUS UIDNEXT %d is not above UID %d, seen before", st.UIDNext, cl.box.maxUID)
	}
	if cl.box.uidValidity != 0 && st.UIDValidity != cl.box.uidValidity {
		cl.fail("STATUS UIDVALIDITY %d, SELECT said %d", st.UIDValidity, cl.box.uidValidity)
	}
	return nil
}

// selectMailbox selects the client's mailbox and checks it; after a
// violation it re-reads the whole mailbox into the model.
func (cl *imapClient) selectMailbox() error {
	var sel *imap.SelectData
	err := cl.timed("select", func() (err error) {
		sel, err = cl.c.Select(cl.mailbox, nil).Wait()
		return err
	})
	if err != nil {
		return err
	}
	if cl.box.uidValidity != 0 && sel.UIDValidity != cl.box.uidValidity {
		cl.fail("UIDVALIDITY changed from %d to %d", cl.box.uidValidity, sel.UIDValidity)
		cl.box.maxUID = 0
	}
	cl.box.uidValidity = sel.UIDValidity
	cl.exists.Store(int64(sel.NumMessages))
	if cl.box.lost {
		return cl.reread(sel.NumMessages)
	}
	if int(sel.NumMessages) != len(cl.box.msgs) {
		cl.fail("SELECT reports %d messages, the client expects %d", sel.NumMessages, len(cl.box.msgs))
		return cl.reread(sel.NumMessages)
	}
	return nil
}

// reread takes the server's word for the mailbox's contents, checking only
// what holds whatever the history: UIDs ascend and no message is there twice.
func (cl *imapClient) reread(exists uint32) error {
	cl.box.lost = false
	cl.box.msgs = cl.box.msgs[:0]
	if exists == 0 {
		return nil
	}
	var msgs []*imapclient.FetchMessageBuffer
	err := cl.timed("fetch_envelope", func() (err error) {
		msgs, err = cl.c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Envelope: true, Flags: true, RFC822Size: true}).Collect()
		return err
	})
	if err != nil {
		return err
	}
	ids := make(map[string]bool)
	for _, m := range msgs {
		if len(cl.box.msgs) > 0 && m.UID <= cl.box.msgs[len(cl.box.msgs)-1].uid {
			cl.chk.fail("client %d, mailbox %s: UID %d at sequence %d is not above the UID before it", cl.id, cl.mailbox, m.UID, m.SeqNum)
		}
		id := envelopeID(m)
		if ids[id] {
			cl.chk.fail("client %d, mailbox %s: message <%s> is in the mailbox twice", cl.id, cl.mailbox, id)
		}
		ids[id] = true
		cl.box.msgs = append(cl.box.msgs, modelMsg{uid: m.UID, msgID: id, size: m.RFC822Size,
			flagged: slices.Contains(m.Flags, imap.FlagFlagged), deleted: slices.Contains(m.Flags, imap.FlagDeleted)})
		cl.box.maxUID = max(cl.box.maxUID, m.UID)
	}
	cl.checkCount("re-reading the mailbox")
	cl.box.lost = false
	return nil
}

func envelopeID(m *imapclient.FetchMessageBuffer) string {
	if m.Envelope == nil {
		return ""
	}
	return m.Envelope.MessageID
}

// checkFetched compares one FETCH response with the model's message at
// its sequence number.
func (cl *imapClient) checkFetched(m *imapclient.FetchMessageBuffer) {
	if m.SeqNum < 1 || int(m.SeqNum) > len(cl.box.msgs) {
		cl.fail("FETCH response for sequence number %d, the mailbox has %d", m.SeqNum, len(cl.box.msgs))
		return
	}
	want := cl.box.msgs[m.SeqNum-1]
	if m.UID != 0 && m.UID != want.uid {
		cl.fail("FETCH of sequence number %d returned UID %d, the client expects %d", m.SeqNum, m.UID, want.uid)
		return
	}
	if m.Envelope != nil && m.Envelope.MessageID != want.msgID {
		cl.fail("FETCH of sequence number %d returned message <%s>, the client expects <%s>", m.SeqNum, m.Envelope.MessageID, want.msgID)
	}
	if m.RFC822Size != 0 && m.RFC822Size != want.size {
		cl.fail("FETCH of UID %d returned RFC822.SIZE %d, the client appended %d bytes", want.uid, m.RFC822Size, want.size)
	}
	if m.Flags != nil && slices.Contains(m.Flags, imap.FlagFlagged) != want.flagged {
		cl.fail("FETCH of UID %d returned FLAGS %v, the client expects \\Flagged=%v", want.uid, m.Flags, want.flagged)
	}
}

// checkSeqRange checks a FETCH of sequence numbers lo..hi answered each
// exactly once.
func (cl *imapClient) checkSeqRange(msgs []*imapclient.FetchMessageBuffer, lo, hi uint32) {
	seen := make(map[uint32]bool)
	for _, m := range msgs {
		if seen[m.SeqNum] {
			cl.fail("FETCH answered sequence number %d twice", m.SeqNum)
		}
		seen[m.SeqNum] = true
		cl.checkFetched(m)
	}
	if len(seen) != int(hi-lo+1) {
		cl.fail("FETCH %d:%d answered %d messages", lo, hi, len(seen))
	}
}

func (cl *imapClient) fetchEnvelopes() error {
	n := len(cl.box.msgs)
	lo := uint32(1 + cl.rng.Intn(n))
	hi := min(uint32(n), lo+uint32(cl.rng.Intn(10)))
	var msgs []*imapclient.FetchMessageBuffer
	err := cl.timed("fetch_envelope", func() (err error) {
		msgs, err = cl.c.Fetch(seqRange(lo, hi), &imap.FetchOptions{UID: true, Envelope: true, Flags: true, RFC822Size: true}).Collect()
		return err
	})
	if err == nil {
		cl.checkSeqRange(msgs, lo, hi)
	}
	return err
}

func (cl *imapClient) fetchBody() error {
	seq := uint32(1 + cl.rng.Intn(len(cl.box.msgs)))
	section := &imap.FetchItemBodySection{Peek: true}
	var msgs []*imapclient.FetchMessageBuffer
	err := cl.timed("fetch_body", func() (err error) {
		msgs, err = cl.c.Fetch(imap.SeqSetNum(seq), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		return err
	})
	if err != nil {
		return err
	}
	cl.checkSeqRange(msgs, seq, seq)
	if len(msgs) != 1 || cl.box.lost {
		return nil
	}
	want := cl.box.msgs[seq-1]
	body := msgs[0].FindBodySection(section)
	if int64(len(body)) != want.size {
		cl.fail("BODY[] of UID %d is %d bytes, the client appended %d", want.uid, len(body), want.size)
	} else if !bytes.Contains(body, []byte("Message-Id: <"+want.msgID+">")) {
		cl.fail("BODY[] of UID %d is not message <%s>", want.uid, want.msgID)
	}
	return nil
}

func (cl *imapClient) search() error {
	var data *imap.SearchData
	err := cl.timed("search", func() (err error) {
		data, err = cl.c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
		return err
	})
	if err != nil {
		return err
	}
	got := data.AllUIDs()
	want := make([]imap.UID, len(cl.box.msgs))
	for i, m := range cl.box.msgs {
		want[i] = m.uid
	}
	if !slices.Equal(got, want) {
		cl.fail("UID SEARCH ALL returned %v, the client expects %v", got, want)
	}
	return nil
}

// store toggles \Flagged on one message, by sequence number or by UID.
func (cl *imapClient) store() error {
	seq := uint32(1 + cl.rng.Intn(len(cl.box.msgs)))
	m := &cl.box.msgs[seq-1]
	op := imap.StoreFlagsAdd
	if m.flagged {
		op = imap.StoreFlagsDel
	}
	var set imap.NumSet = imap.SeqSetNum(seq)
	byUID := cl.rng.Intn(2) == 0
	if byUID {
		set = imap.UIDSetNum(m.uid)
	}
	var msgs []*imapclient.FetchMessageBuffer
	err := cl.timed("store", func() (err error) {
		msgs, err = cl.c.Store(set, &imap.StoreFlags{Op: op, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Collect()
		return err
	})
	if err != nil {
		return err
	}
	m.flagged = !m.flagged
	if byUID && len(msgs) == 1 && msgs[0].SeqNum != seq {
		cl.fail("UID STORE of UID %d answered for sequence number %d, the client expects %d", m.uid, msgs[0].SeqNum, seq)
		return nil
	}
	cl.checkSeqRange(msgs, seq, seq)
	return nil
}
