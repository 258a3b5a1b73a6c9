package spool

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/emersion/go-imap/v2"
	bolt "go.etcd.io/bbolt"
)

// Append stores r.Body in mailbox r.Mailbox. It returns only when the
// message file and its index record are durable; concurrent calls share
// one index commit.
func (s *Store) Append(ctx context.Context, r AppendRequest) (Message, error) {
	flags, err := canonicalFlags(r.Flags)
	if err != nil {
		return Message{}, err
	}
	body := r.Body
	if r.Size > 0 {
		body = &exactReader{r: io.LimitReader(body, r.Size), left: r.Size}
	}
	ds, err := s.deliver(ctx, []uint64{r.Mailbox}, body, r.InternalDate, flags, nil)
	if err != nil {
		return Message{}, err
	}
	return ds[0].Message, ds[0].Err
}

// Deliver stores body once and adds it to each of mailboxes, in one index
// commit. The error is for the delivery as a whole (a body too big, a
// failing disk); a mailbox that cannot take the message has its own Err.
func (s *Store) Deliver(ctx context.Context, mailboxes []uint64, body io.Reader, date time.Time) ([]Delivery, error) {
	return s.deliver(ctx, mailboxes, body, date, nil, nil)
}

// Admit decides whether a mailbox takes a delivery once the body is
// written and its size is known: a quota, for one. Its error becomes that
// mailbox's Delivery.Err and the mailbox is left as it was.
type Admit func(mailbox uint64, size int64) error

// DeliverAdmitted is Deliver with admit asked about each mailbox, in
// order, before the commit.
func (s *Store) DeliverAdmitted(ctx context.Context, mailboxes []uint64, body io.Reader, date time.Time, admit Admit) ([]Delivery, error) {
	return s.deliver(ctx, mailboxes, body, date, nil, admit)
}

func (s *Store) deliver(ctx context.Context, mailboxes []uint64, body io.Reader, date time.Time, flags []imap.Flag, admit Admit) ([]Delivery, error) {
	return s.deliverNamed(ctx, "", mailboxes, body, date, flags, admit)
}

// deliverNamed stores body in each of mailboxes; a delivery named by id
// is stored in a mailbox at most once (see DeliverOnce).
func (s *Store) deliverNamed(ctx context.Context, id string, mailboxes []uint64, body io.Reader, date time.Time, flags []imap.Flag, admit Admit) ([]Delivery, error) {
	if len(mailboxes) == 0 {
		return nil, fmt.Errorf("%w: delivery to no mailbox", ErrNoMailbox)
	}
	if s.isClosed() {
		return nil, ErrClosed
	}
	if len(id) > MaxDeliveryID {
		return nil, fmt.Errorf("%w: delivery id of %d bytes", ErrInvalidMeta, len(id))
	}
	if date.IsZero() {
		date = time.Now()
	}
	date = date.Truncate(time.Second)
	wb, err := s.writeBody(ctx, body)
	if err != nil {
		return nil, err
	}
	stored := false
	defer func() {
		s.unpin(wb.guid)
		if !stored {
			// No record names the body: remove it unless another
			// writer or an older record holds it.
			s.removeUnreferenced([]string{wb.guid})
		}
	}()
	cache, err := s.cacheFor(wb)
	if err != nil {
		return nil, err
	}
	base := Message{GUID: wb.guid, Flags: flags, InternalDate: date, Size: wb.size}
	refused := make([]error, len(mailboxes))
	if admit != nil {
		for i, id := range mailboxes {
			refused[i] = admit(id, wb.size)
		}
	}
	out := make([]Delivery, len(mailboxes))
	err = s.submit(func(w *txn) error {
		// This may run again, in a new transaction, if another write in
		// the batch fails: it starts from scratch each time.
		now := time.Now()
		base.SavedAt = now.Unix()
		for i, mb := range mailboxes {
			out[i] = Delivery{Mailbox: mb}
			out[i].Message, out[i].Duplicate, out[i].Err = w.deliverOnce(mb, id, now, base, cache, refused[i])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, d := range out {
		stored = stored || (d.Err == nil && !d.Duplicate)
	}
	return out, nil
}

// deliverOnce adds base to mailbox id, unless delivery name (when set)
// already did: then the message it stored is returned, with true, and the
// commit waits for the mailbox's replicas as if it had stored it (the
// first attempt may have died before they had it). refused is the
// mailbox's refusal by Admit, which a delivery already made is not asked
// again (a quota the first attempt used up must not bounce the message).
func (w *txn) deliverOnce(id uint64, name string, now time.Time, base Message, cache func() []byte, refused error) (Message, bool, error) {
	if name == "" {
		if refused != nil {
			return Message{}, false, refused
		}
		m, err := w.deliverOne(id, base, cache)
		return m, false, err
	}
	mb, err := w.mailbox(id)
	if err != nil {
		return Message{}, false, err
	}
	uid, seen, err := mb.priorDelivery(now, name, base.GUID)
	if err != nil {
		return Message{}, false, err
	}
	if seen {
		w.confirmed = append(w.confirmed, id)
		if v := mb.uids.Get(uidKey(uid)); v != nil {
			m, err := decodeRecord(v)
			return m, true, err
		}
		// Expunged since: the delivery was made; it is not made again.
		return Message{UID: uid, GUID: base.GUID, Size: base.Size}, true, nil
	}
	if refused != nil {
		return Message{}, false, refused
	}
	base.Delivery = name
	m, err := w.deliverOne(id, base, cache)
	if err != nil {
		return Message{}, false, err
	}
	// noteDelivery writes only below the mailbox's bucket, which is the
	// same in this transaction however often it is loaded.
	return m, false, mb.noteDelivery(now, name, base.GUID, m.UID)
}

// deliverOne adds base to mailbox id. Its errors are checked before it
// writes, so a failed mailbox leaves the shared transaction as it was.
func (w *txn) deliverOne(id uint64, base Message, cache func() []byte) (Message, error) {
	mb, err := w.mailbox(id)
	if err != nil {
		return Message{}, err
	}
	if _, err := mb.meta.nextUID(); err != nil {
		return Message{}, err
	}
	var c []byte
	if !hasBody(w.Tx, base.GUID) {
		c = cache()
	}
	if err := w.ref(base.GUID, base.Size, c); err != nil {
		return Message{}, err
	}
	m, err := mb.appendCopy(base, mb.bump())
	if err != nil {
		return Message{}, err
	}
	if err := mb.save(); err != nil {
		return Message{}, err
	}
	w.changed(id, Appended, []uint32{m.UID})
	return m, nil
}

// cacheFor returns the cached envelope and body structure of a body just
// written, computing them now unless the index already holds the body. If
// the index loses the body before the commit (its last reference expunged
// meanwhile), they are computed then, on the committer.
func (s *Store) cacheFor(wb writtenBody) (func() []byte, error) {
	var known bool
	if err := s.view(func(tx *bolt.Tx) error { known = hasBody(tx, wb.guid); return nil }); err != nil {
		return nil, err
	}
	var cache []byte
	compute := func() []byte {
		if cache == nil {
			cache = s.computeCache(nil, wb.guid)
		}
		return cache
	}
	if !known {
		compute()
	}
	return compute, nil
}

// exactReader ends with ErrShortBody, not io.EOF, when its body ends before
// left more bytes have been read.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		return n, fmt.Errorf("%w: %d bytes missing", ErrShortBody, e.left)
	}
	return n, err
}

// AppendAll stores every message next returns in mailbox, in one commit:
// all of them or, when any fails, none (MULTIAPPEND, RFC 3502). next
// returns false after the last; each body is read whole before next is
// called again, so the bodies may be parts of one stream. admit, when
// set, is asked about the sum of their sizes once every body is written,
// and its error refuses them all. The messages get UIDs in next's order.
func (s *Store) AppendAll(ctx context.Context, mailbox uint64, next func() (AppendRequest, bool, error), admit func(total int64) error) ([]Message, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	var bases []Message
	var caches []func() []byte
	stored := false
	defer func() {
		var guids []string
		for _, b := range bases {
			s.unpin(b.GUID)
			guids = append(guids, b.GUID)
		}
		if !stored {
			// No record names them: each goes unless another writer
			// or an older record holds it.
			s.removeUnreferenced(guids)
		}
	}()
	var total int64
	for {
		r, ok, err := next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		flags, err := canonicalFlags(r.Flags)
		if err != nil {
			return nil, err
		}
		body := r.Body
		if r.Size > 0 {
			body = &exactReader{r: io.LimitReader(body, r.Size), left: r.Size}
		}
		wb, err := s.writeBody(ctx, body)
		if err != nil {
			return nil, err
		}
		date := r.InternalDate
		if date.IsZero() {
			date = time.Now()
		}
		// Listed at once, so that the deferred unpin covers it.
		bases = append(bases, Message{GUID: wb.guid, Flags: flags, InternalDate: date.Truncate(time.Second), Size: wb.size})
		cache, err := s.cacheFor(wb)
		if err != nil {
			return nil, err
		}
		caches = append(caches, cache)
		total += wb.size
	}
	if len(bases) == 0 {
		return nil, fmt.Errorf("%w: no message to append", ErrNoMessage)
	}
	if admit != nil {
		if err := admit(total); err != nil {
			return nil, err
		}
	}
	out := make([]Message, len(bases))
	err := s.submit(func(w *txn) error {
		// A failure here rolls back the whole transaction, and the
		// committer runs the batch's other writes again without this
		// one: nothing of it is stored.
		now := time.Now().Unix()
		for i, base := range bases {
			base.SavedAt = now
			m, err := w.deliverOne(mailbox, base, caches[i])
			if err != nil {
				return err
			}
			out[i] = m
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	stored = true
	return out, nil
}
