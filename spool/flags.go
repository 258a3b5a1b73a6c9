package spool

import (
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
)

var systemFlags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft}

// canonicalFlags checks flags and returns them deduplicated, system flags
// in their usual spelling. Flags compare without case (RFC 3501 2.3.2);
// a keyword keeps the spelling it was first given.
func canonicalFlags(flags []imap.Flag) ([]imap.Flag, error) {
	out := make([]imap.Flag, 0, len(flags))
	for _, f := range flags {
		c, err := canonicalFlag(f)
		if err != nil {
			return nil, err
		}
		if !hasFlag(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

func canonicalFlag(f imap.Flag) (imap.Flag, error) {
	if strings.HasPrefix(string(f), `\`) {
		for _, sf := range systemFlags {
			if strings.EqualFold(string(f), string(sf)) {
				return sf, nil
			}
		}
		return "", fmt.Errorf("%w: %q is not a system flag that can be stored", ErrInvalidFlag, f)
	}
	if f == "" || len(f) > 255 {
		return "", fmt.Errorf("%w: keyword of %d bytes", ErrInvalidFlag, len(f))
	}
	for i := 0; i < len(f); i++ {
		// atom-char minus the characters IMAP forbids in a flag keyword
		if c := f[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return "", fmt.Errorf("%w: %q", ErrInvalidFlag, f)
		}
	}
	return f, nil
}

func hasFlag(flags []imap.Flag, f imap.Flag) bool {
	for _, g := range flags {
		if strings.EqualFold(string(g), string(f)) {
			return true
		}
	}
	return false
}

// applyFlags returns cur changed by op with flags, and whether it changed.
func applyFlags(cur []imap.Flag, op FlagOp, flags []imap.Flag) ([]imap.Flag, bool) {
	var next []imap.Flag
	switch op {
	case FlagsSet:
		next = slices.Clone(flags)
	case FlagsAdd:
		next = slices.Clone(cur)
		for _, f := range flags {
			if !hasFlag(next, f) {
				next = append(next, f)
			}
		}
	case FlagsDel:
		for _, f := range cur {
			if !hasFlag(flags, f) {
				next = append(next, f)
			}
		}
	}
	return next, !sameFlags(cur, next)
}

func sameFlags(a, b []imap.Flag) bool {
	if len(a) != len(b) {
		return false
	}
	for _, f := range a {
		if !hasFlag(b, f) {
			return false
		}
	}
	return true
}

func sortedUnique(uids []uint32) []uint32 {
	out := slices.Clone(uids)
	slices.Sort(out)
	return slices.Compact(out)
}

// StoreFlags changes the flags of the messages uids of mailbox id (UIDs
// that do not exist are skipped, as IMAP asks). With unchangedSince > 0
// (CONDSTORE), a message whose modseq is above it is left alone and listed
// in failed. updated holds every other message, after the change; only
// those whose flags really changed get a new modseq and are reported to
// watchers.
func (s *Store) StoreFlags(id uint64, uids []uint32, op FlagOp, flags []imap.Flag, unchangedSince uint64) (updated []Message, failed []uint32, err error) {
	if op != FlagsAdd && op != FlagsDel && op != FlagsSet {
		return nil, nil, fmt.Errorf("%w: unknown flag operation %d", ErrInvalidFlag, op)
	}
	flags, err = canonicalFlags(flags)
	if err != nil {
		return nil, nil, err
	}
	err = s.submit(func(w *txn) error {
		updated, failed = nil, nil
		mb, err := w.mailbox(id)
		if err != nil {
			return err
		}
		msgs, err := mb.records(uids)
		if err != nil {
			return err
		}
		var modseq uint64
		var changed []uint32
		for _, m := range msgs {
			if unchangedSince > 0 && m.ModSeq > unchangedSince {
				failed = append(failed, m.UID)
				continue
			}
			next, diff := applyFlags(m.Flags, op, flags)
			if diff {
				if modseq == 0 {
					modseq = mb.bump()
				}
				old := m
				m.Flags, m.ModSeq = next, modseq
				if err := mb.replace(&m, old); err != nil {
					return err
				}
				changed = append(changed, m.UID)
			}
			updated = append(updated, m)
		}
		w.changed(id, FlagsChanged, changed)
		return mb.save()
	})
	if err != nil {
		return nil, nil, err
	}
	return updated, failed, nil
}

// Expunge removes messages flagged \Deleted from mailbox id: of uids, or
// every one when uids is nil (EXPUNGE and UID EXPUNGE alike never remove
// a message without \Deleted). It returns the removed UIDs in order.
func (s *Store) Expunge(id uint64, uids []uint32) ([]uint32, error) {
	var gone []uint32
	err := s.submit(func(w *txn) error {
		gone = nil
		mb, err := w.mailbox(id)
		if err != nil {
			return err
		}
		msgs, err := mb.records(uids)
		if err != nil {
			return err
		}
		var modseq uint64
		for _, m := range msgs {
			if !hasFlag(m.Flags, imap.FlagDeleted) {
				continue
			}
			if modseq == 0 {
				modseq = mb.bump()
			}
			if err := w.expungeOne(mb, &m, modseq); err != nil {
				return err
			}
			gone = append(gone, m.UID)
		}
		w.changed(id, Expunged, gone)
		return mb.save()
	})
	return gone, err
}

// expungeOne removes m and leaves a tombstone with the expunge's modseq,
// so that replication can send the expunge to replicas (see tombstone).
func (w *txn) expungeOne(mb *mailbox, m *Message, modseq uint64) error {
	if err := mb.remove(m); err != nil {
		return err
	}
	if err := mb.tombstone(m.UID, modseq); err != nil {
		return err
	}
	w.expunged = append(w.expunged, *m)
	return w.unref(m.GUID)
}
