package bench

import (
	"fmt"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func seqRange(lo, hi uint32) imap.SeqSet {
	var s imap.SeqSet
	s.AddRange(lo, hi)
	return s
}

// appendMessage appends a message with a Message-Id no other append uses,
// then a NOOP, after which the server must report it.
func (cl *imapClient) appendMessage() error {
	cl.sent++
	id := fmt.Sprintf("%s.%d.%d@bench.rookery.invalid", cl.runID, cl.id, cl.sent)
	msg := message(id, cl.cred.User, cl.cfg.Size, cl.fill)
	var data *imap.AppendData
	err := cl.timed("append", func() error {
		cmd := cl.c.Append(cl.mailbox, int64(len(msg)), nil)
		if _, err := cmd.Write(msg); err != nil {
			cmd.Close()
			return err
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		var err error
		data, err = cmd.Wait()
		return err
	})
	if err != nil {
		return err
	}
	if data.UID != 0 {
		cl.checkNewUID(data.UID, "APPENDUID")
		if data.UIDValidity != cl.box.uidValidity {
			cl.fail("APPENDUID UIDVALIDITY %d, SELECT said %d", data.UIDValidity, cl.box.uidValidity)
		}
	}
	cl.box.msgs = append(cl.box.msgs, modelMsg{uid: data.UID, msgID: id, size: int64(len(msg))})
	if err := cl.timed("noop", cl.c.Noop().Wait); err != nil {
		return err
	}
	cl.checkCount("APPEND and NOOP")
	if data.UID == 0 && !cl.box.lost {
		return cl.learnUID()
	}
	return nil
}

// checkNewUID checks a new message's UID is above every UID the mailbox
// has shown (invariant: UIDs are strictly ascending).
func (cl *imapClient) checkNewUID(uid imap.UID, source string) {
	if uid <= cl.box.maxUID {
		cl.fail("%s %d is not above UID %d, seen before", source, uid, cl.box.maxUID)
	}
	cl.box.maxUID = max(cl.box.maxUID, uid)
}

// learnUID fetches the UID of the last message, for servers without
// UIDPLUS.
func (cl *imapClient) learnUID() error {
	seq := uint32(len(cl.box.msgs))
	var msgs []*imapclient.FetchMessageBuffer
	err := cl.timed("fetch_envelope", func() (err error) {
		msgs, err = cl.c.Fetch(imap.SeqSetNum(seq), &imap.FetchOptions{UID: true, Envelope: true}).Collect()
		return err
	})
	if err != nil {
		return err
	}
	if len(msgs) != 1 || envelopeID(msgs[0]) != cl.box.msgs[seq-1].msgID {
		cl.fail("the appended message is not at sequence number %d", seq)
		return nil
	}
	cl.checkNewUID(msgs[0].UID, "UID")
	cl.box.msgs[seq-1].uid = msgs[0].UID
	return nil
}

// expunge marks a few messages \Deleted and expunges them: each EXPUNGE
// response must name a marked message at its current sequence number.
func (cl *imapClient) expunge() error {
	k := 1 + cl.rng.Intn(min(3, len(cl.box.msgs)))
	var set imap.SeqSet
	for _, i := range cl.rng.Perm(len(cl.box.msgs))[:k] {
		set.AddNum(uint32(i + 1))
	}
	err := cl.timed("store", func() error {
		return cl.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	})
	if err != nil {
		return err
	}
	nums, _ := set.Nums()
	for _, n := range nums {
		cl.box.msgs[n-1].deleted = true
	}
	var expunged []uint32
	err = cl.timed("expunge", func() (err error) {
		expunged, err = cl.c.Expunge().Collect()
		return err
	})
	if err != nil {
		return err
	}
	cl.exists.Add(-int64(len(expunged)))
	for _, seq := range expunged {
		if seq < 1 || int(seq) > len(cl.box.msgs) {
			cl.fail("EXPUNGE %d, the mailbox has %d messages", seq, len(cl.box.msgs))
			return nil
		}
		if m := cl.box.msgs[seq-1]; !m.deleted {
			cl.fail("EXPUNGE %d names UID %d, which is not \\Deleted", seq, m.uid)
			return nil
		}
		cl.box.msgs = slices.Delete(cl.box.msgs, int(seq-1), int(seq))
	}
	for _, m := range cl.box.msgs {
		if m.deleted {
			cl.fail("UID %d is \\Deleted but EXPUNGE did not remove it", m.uid)
			return nil
		}
	}
	cl.checkCount("EXPUNGE")
	return nil
}

func (cl *imapClient) noop() error {
	err := cl.timed("noop", cl.c.Noop().Wait)
	if err == nil {
		cl.checkCount("NOOP")
	}
	return err
}
