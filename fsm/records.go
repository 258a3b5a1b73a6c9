package fsm

import (
	"errors"
	"fmt"
	"strings"
)

// Snapshot records: how each record kind is written and read back, and
// the checks that a restored state is whole and consistent.

func appendBackend(e *encoder, b *Backend) {
	e.string(b.ID)
	e.string(b.IMAPAddr)
	e.string(b.LMTPAddr)
	e.string(b.APIAddr)
	e.byte(byte(b.State))
	e.uint(uint64(b.Weight))
	e.int(b.Since)
}

func decodeBackend(d *decoder) *Backend {
	return &Backend{
		ID:       d.string(),
		IMAPAddr: d.string(),
		LMTPAddr: d.string(),
		APIAddr:  d.string(),
		State:    BackendState(d.byte()),
		Weight:   d.uint32(),
		Since:    d.int(),
	}
}

// userAdminFlag is a bit of the user record's trailing flags field.
const userAdminFlag = 1 << 0

// appendUser writes the flags field only when a flag is set: the record of
// a user with none is the record of the versions before the field, which
// restore it as it was; a version that knows no flags refuses a record
// with them (trailing bytes) rather than drop an admin mark.
func appendUser(e *encoder, u *User) {
	e.string(u.Name)
	e.string(u.PasswordHash)
	e.byte(byte(u.State))
	e.int(u.QuotaBytes)
	e.int(u.CreatedAt)
	if u.Admin {
		e.uint(userAdminFlag)
	}
}

func decodeUser(d *decoder) *User {
	u := &User{
		Name:         d.string(),
		PasswordHash: d.string(),
		State:        UserState(d.byte()),
		QuotaBytes:   d.int(),
		CreatedAt:    d.int(),
	}
	if len(d.buf) > 0 {
		flags := d.uint()
		if flags&^userAdminFlag != 0 {
			d.fail("unknown user flags %#x", flags)
		}
		u.Admin = flags&userAdminFlag != 0
	}
	return u
}

// appendMailbox writes the epoch only when it is not 0, as appendUser
// does its flags: the record of a mailbox never placed anew is the record
// of the versions before epochs.
func appendMailbox(e *encoder, mb *Mailbox) {
	e.uint(mb.ID)
	e.string(mb.Name)
	e.byte(byte(mb.State))
	e.string(mb.Primary.Backend)
	e.uint(uint64(mb.Primary.Slot))
	e.uint(uint64(len(mb.Replicas)))
	for _, c := range mb.Replicas {
		e.string(c.Backend)
		e.uint(uint64(c.Slot))
	}
	e.uint(uint64(mb.Stride))
	e.uint(uint64(mb.UIDValidity))
	e.uint(uint64(len(mb.ACL)))
	for _, a := range mb.ACL {
		e.string(a.Identifier)
		e.string(a.Rights)
	}
	e.string(mb.SpecialUse)
	e.string(mb.Reservation)
	e.string(mb.ReservedBy)
	e.int(mb.ReservedAt)
	if mb.Epoch != 0 {
		e.uint(mb.Epoch)
	}
}

// decodeMailbox shares backend id strings through intern.
func decodeMailbox(d *decoder, intern map[string]string) *Mailbox {
	mb := &Mailbox{ID: d.uint(), Name: d.string(), State: MailboxState(d.byte())}
	mb.Primary = Copy{Backend: d.internedString(intern), Slot: d.uint32()}
	if n := d.count(); n > 0 {
		mb.Replicas = make([]Copy, n)
		for i := range mb.Replicas {
			mb.Replicas[i] = Copy{Backend: d.internedString(intern), Slot: d.uint32()}
		}
	}
	mb.Stride = d.uint32()
	mb.UIDValidity = d.uint32()
	if n := d.count(); n > 0 {
		mb.ACL = make([]ACE, n)
		for i := range mb.ACL {
			mb.ACL[i] = ACE{Identifier: d.string(), Rights: d.string()}
		}
	}
	mb.SpecialUse = d.string()
	mb.Reservation = d.string()
	mb.ReservedBy = d.internedString(intern)
	mb.ReservedAt = d.int()
	// A record without an epoch is one of a mailbox never placed anew, or
	// of a version before epochs: both start at 0.
	if len(d.buf) > 0 {
		mb.Epoch = d.uint()
	}
	return mb
}

// internedString returns the interned copy of the next string when there
// is one, without allocating for it.
func (d *decoder) internedString(intern map[string]string) string {
	n := d.uint()
	if n > uint64(len(d.buf)) {
		d.fail("string of %d bytes past the end", n)
		return ""
	}
	b := d.buf[:n]
	d.buf = d.buf[n:]
	if s, ok := intern[string(b)]; ok {
		return s
	}
	return string(b)
}

// restorer builds tables from records, checking order and uniqueness.
type restorer struct {
	t       *tables
	hdr     snapshotHeader
	gotHdr  bool
	intern  map[string]string
	counts  [10]uint64
	lastKey string
	lastKnd recordKind
}

func (rr *restorer) add(kind recordKind, payload []byte) error {
	d := decoder{buf: payload}
	if !rr.gotHdr && kind != recHeader {
		return errors.New("snapshot has no header")
	}
	if kind < rr.lastKnd {
		return fmt.Errorf("record kind %d after kind %d", kind, rr.lastKnd)
	}
	if kind != rr.lastKnd {
		rr.lastKey = ""
	}
	var err error
	switch kind {
	case recHeader:
		err = rr.header(&d)
	case recBackend:
		err = rr.backend(decodeBackend(&d))
	case recUser:
		err = rr.user(decodeUser(&d))
	case recMailbox:
		err = rr.mailbox(decodeMailbox(&d, rr.intern))
	case recSubscription:
		err = rr.subscription(subscription{user: d.string(), name: d.string()})
	case recInSync:
		err = rr.inSync(Pair{Primary: d.internedString(rr.intern), Replica: d.internedString(rr.intern)})
	case recMove:
		err = rr.move(decodeMove(&d, rr.intern))
	case recDomain:
		err = rr.domain(Domain{Name: d.string(), Default: d.bool()})
	case recAlias:
		err = rr.alias(&Alias{Address: d.string(), User: d.string()})
	default:
		return fmt.Errorf("unknown record kind %d", kind)
	}
	if err == nil {
		err = d.finish()
	}
	if err != nil {
		return fmt.Errorf("record kind %d number %d: %w", kind, rr.counts[kind]+1, err)
	}
	rr.counts[kind]++
	rr.lastKnd = kind
	return nil
}

func (rr *restorer) header(d *decoder) error {
	if rr.gotHdr {
		return errors.New("second header")
	}
	rr.gotHdr = true
	rr.hdr = snapshotHeader{
		applied:         d.uint(),
		nextID:          d.uint(),
		nextUIDValidity: d.uint32(),
		backends:        d.uint(),
		users:           d.uint(),
		mailboxes:       d.uint(),
		subs:            d.uint(),
	}
	rr.t.nextID = rr.hdr.nextID
	rr.t.nextUIDValidity = rr.hdr.nextUIDValidity
	return nil
}

// ordered checks that records of one kind come in strictly increasing key
// order, which also rules out duplicates.
func (rr *restorer) ordered(key string) error {
	if rr.lastKey != "" && key <= rr.lastKey {
		return fmt.Errorf("%q out of order", key)
	}
	rr.lastKey = key
	return nil
}

func (rr *restorer) backend(b *Backend) error {
	if err := rr.ordered(b.ID); err != nil {
		return err
	}
	rr.intern[b.ID] = b.ID
	rr.t.backends = append(rr.t.backends, b)
	return nil
}

func (rr *restorer) user(u *User) error {
	if err := rr.ordered(u.Name); err != nil {
		return err
	}
	rr.t.users.ReplaceOrInsert(u)
	return nil
}

func (rr *restorer) mailbox(mb *Mailbox) error {
	if err := rr.ordered(mb.Name); err != nil {
		return err
	}
	if mb.ID == 0 || mb.ID >= rr.t.nextID {
		return fmt.Errorf("mailbox %q has id %d, next id is %d", mb.Name, mb.ID, rr.t.nextID)
	}
	if _, dup := rr.t.ids.ReplaceOrInsert(idEntry{id: mb.ID, mb: mb}); dup {
		return fmt.Errorf("mailbox id %d twice", mb.ID)
	}
	rr.t.names.ReplaceOrInsert(nameEntry{name: mb.Name, mb: mb})
	rr.t.addToIndexes(mb)
	if unsettled(mb.State) {
		rr.t.unsettled.ReplaceOrInsert(nameEntry{name: mb.Name, mb: mb})
	}
	return nil
}

func (rr *restorer) subscription(s subscription) error {
	if err := rr.ordered(s.user + "\x00" + s.name); err != nil {
		return err
	}
	rr.t.subs.ReplaceOrInsert(s)
	return nil
}

func (rr *restorer) inSync(p Pair) error {
	if err := rr.ordered(p.Primary + "\x00" + p.Replica); err != nil {
		return err
	}
	if _, ok := rr.t.backend(p.Primary); !ok || p.Primary == p.Replica {
		return fmt.Errorf("in-sync pair %q -> %q names no backend pair", p.Primary, p.Replica)
	}
	if _, ok := rr.t.backend(p.Replica); !ok {
		return fmt.Errorf("in-sync pair %q -> %q names no backend pair", p.Primary, p.Replica)
	}
	rr.t.inSync = append(rr.t.inSync, p)
	return nil
}

func (rr *restorer) domain(d Domain) error {
	if err := rr.ordered(d.Name); err != nil {
		return err
	}
	if canon, err := CanonicalDomain(d.Name); err != nil || canon != d.Name {
		return fmt.Errorf("domain %q is not canonical", d.Name)
	}
	if d.Default && rr.t.defaultDomain() != "" {
		return fmt.Errorf("domain %q is a second default", d.Name)
	}
	rr.t.domains = append(rr.t.domains, d)
	return nil
}

func (rr *restorer) alias(a *Alias) error {
	if err := rr.ordered(a.Address); err != nil {
		return err
	}
	if canon, err := CanonicalAddress(a.Address); err != nil || canon != a.Address {
		return fmt.Errorf("alias %q is not canonical", a.Address)
	}
	_, domain, _ := strings.Cut(a.Address, "@")
	if _, ok := rr.t.domainIndex(domain); !ok {
		return fmt.Errorf("alias %q is in no served domain", a.Address)
	}
	if _, ok := rr.t.user(a.User); !ok {
		return fmt.Errorf("alias %q names no user %q", a.Address, a.User)
	}
	rr.t.aliases.ReplaceOrInsert(a)
	return nil
}

func (rr *restorer) complete() error {
	if !rr.gotHdr {
		return errors.New("snapshot has no header")
	}
	if len(rr.t.domains) > 0 && rr.t.defaultDomain() == "" {
		return errors.New("domains without a default")
	}
	want := [...]uint64{recBackend: rr.hdr.backends, recUser: rr.hdr.users, recMailbox: rr.hdr.mailboxes, recSubscription: rr.hdr.subs}
	for kind := recBackend; kind <= recSubscription; kind++ {
		if rr.counts[kind] != want[kind] {
			return fmt.Errorf("%d records of kind %d, header says %d", rr.counts[kind], kind, want[kind])
		}
	}
	return nil
}
