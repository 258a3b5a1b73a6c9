package backend

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/emersion/go-imap/v2"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/internal/clusterapi"
	"github.com/rookery-mail/rookery/internal/condstore"
	"github.com/rookery-mail/rookery/spool"
)

// CONDSTORE's routes (internal/condstore): a frontend reads messages'
// flags with their modseqs, and changes flags with a compare, in one read
// or transaction of the spool each. The frontend has checked the user's
// rights; the cluster API has checked that the caller is a node.

// maxCondstoreRequest bounds a request's body: a STORE of every message
// of a large mailbox, one UID at a time, fits.
const maxCondstoreRequest = 4 << 20

// maxCondstoreRanges bounds the UID ranges of one read.
const maxCondstoreRanges = 1 << 16

func (b *Backend) apiCondstoreRead(w http.ResponseWriter, r *http.Request) {
	id, ok := condstoreMailbox(w, r)
	if !ok {
		return
	}
	var q condstore.ReadRequest
	if err := clusterapi.DecodeJSON(w, r, maxCondstoreRequest, &q); err != nil {
		clusterapi.WriteError(w, condstore.Codes, fmt.Errorf("%w: %v", condstore.ErrInvalid, err))
		return
	}
	ranges, err := condstoreRanges(q.UIDs)
	if err != nil {
		clusterapi.WriteError(w, condstore.Codes, err)
		return
	}
	highest, msgs, err := b.cfg.Store.Changed(id, ranges, q.Since)
	if err != nil {
		clusterapi.WriteError(w, condstore.Codes, condstoreError(err))
		return
	}
	out := condstoreMessages(msgs)
	for i, m := range msgs {
		if q.GUIDs {
			out[i].GUID = m.GUID
		}
		if q.SaveDates {
			out[i].SavedAt = m.SavedAt
		}
		if q.Previews {
			p, err := b.cfg.Store.Preview(m.GUID)
			if err != nil {
				clusterapi.WriteError(w, condstore.Codes, condstoreError(err))
				return
			}
			out[i].Preview = &p
		}
	}
	var vanished []uint32
	if q.Vanished {
		if vanished, err = b.cfg.Store.Vanished(id, ranges, q.Since); err != nil {
			clusterapi.WriteError(w, condstore.Codes, condstoreError(err))
			return
		}
	}
	clusterapi.WriteJSON(w, http.StatusOK, condstore.ReadReply{HighestModSeq: highest, Messages: out, Vanished: vanished})
}

func (b *Backend) apiCondstoreStore(w http.ResponseWriter, r *http.Request) {
	id, ok := condstoreMailbox(w, r)
	if !ok {
		return
	}
	var q condstore.StoreRequest
	if err := clusterapi.DecodeJSON(w, r, maxCondstoreRequest, &q); err != nil {
		clusterapi.WriteError(w, condstore.Codes, fmt.Errorf("%w: %v", condstore.ErrInvalid, err))
		return
	}
	op, ok := map[string]spool.FlagOp{condstore.OpSet: spool.FlagsSet, condstore.OpAdd: spool.FlagsAdd, condstore.OpDel: spool.FlagsDel}[q.Op]
	if !ok {
		clusterapi.WriteError(w, condstore.Codes, fmt.Errorf("%w: flag operation %q", condstore.ErrInvalid, q.Op))
		return
	}
	// Only the primary takes writes: a frontend whose directory copy is
	// behind a failover must not change the old primary's copy.
	v, err := b.cfg.Directory.Read(r.Context(), directory.Local)
	if err != nil {
		clusterapi.WriteError(w, apiCodes, fmt.Errorf("%w: %w", ErrDirectory, err))
		return
	}
	if m, ok := v.MailboxByID(id); !ok || m.Primary.Backend != b.cfg.ID {
		clusterapi.WriteError(w, condstore.Codes, fmt.Errorf("%w: mailbox %d", condstore.ErrNotPrimary, id))
		return
	}
	flags := make([]imap.Flag, len(q.Flags))
	for i, f := range q.Flags {
		flags[i] = imap.Flag(f)
	}
	updated, failed, err := b.cfg.Store.StoreFlags(id, q.UIDs, op, flags, q.UnchangedSince)
	if err != nil {
		clusterapi.WriteError(w, condstore.Codes, condstoreError(err))
		return
	}
	clusterapi.WriteJSON(w, http.StatusOK, condstore.StoreReply{Messages: condstoreMessages(updated), Failed: failed})
}

func condstoreMailbox(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	id, err := strconv.ParseUint(r.PathValue("mailbox"), 10, 64)
	if err != nil || id == 0 {
		clusterapi.WriteError(w, condstore.Codes, fmt.Errorf("%w: mailbox id %q", condstore.ErrInvalid, r.PathValue("mailbox")))
		return 0, false
	}
	return id, true
}

// condstoreRanges checks a read's ranges: ascending, not overlapping.
func condstoreRanges(in []condstore.Range) ([]spool.UIDRange, error) {
	if len(in) > maxCondstoreRanges {
		return nil, fmt.Errorf("%w: %d UID ranges, at most %d", condstore.ErrInvalid, len(in), maxCondstoreRanges)
	}
	out := make([]spool.UIDRange, len(in))
	for i, r := range in {
		if r.First == 0 || r.First > r.Last || (i > 0 && r.First <= in[i-1].Last) {
			return nil, fmt.Errorf("%w: UID ranges out of order at %d:%d", condstore.ErrInvalid, r.First, r.Last)
		}
		out[i] = spool.UIDRange{First: r.First, Last: r.Last}
	}
	return out, nil
}

func condstoreMessages(msgs []spool.Message) []condstore.Message {
	out := make([]condstore.Message, len(msgs))
	for i, m := range msgs {
		flags := make([]string, len(m.Flags))
		for j, f := range m.Flags {
			flags[j] = string(f)
		}
		out[i] = condstore.Message{UID: m.UID, ModSeq: m.ModSeq, Flags: flags}
	}
	return out
}

func condstoreError(err error) error {
	switch {
	case errors.Is(err, spool.ErrNoMailbox):
		return fmt.Errorf("%w: %w", condstore.ErrNoMailbox, err)
	case errors.Is(err, spool.ErrInvalidFlag):
		return fmt.Errorf("%w: %w", condstore.ErrInvalid, err)
	}
	return err
}
