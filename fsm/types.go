package fsm

import "fmt"

// MailboxState is where a mailbox is in its life cycle.
type MailboxState uint8

const (
	// Reserved: a backend holds the name while it creates the mailbox on disk.
	Reserved MailboxState = iota + 1
	// Active: the mailbox exists and takes mail.
	Active
	// Moving: a live move to another backend is under way.
	Moving
	// Deleting: the backend is removing the mailbox from its spool.
	Deleting
)

func (s MailboxState) String() string {
	switch s {
	case Reserved:
		return "reserved"
	case Active:
		return "active"
	case Moving:
		return "moving"
	case Deleting:
		return "deleting"
	}
	return "unknown"
}

// MarshalText is the state's name on the cluster API ("active"): the
// JSON is the API's only; the Raft log and snapshots keep their own
// binary codec.
func (s MailboxState) MarshalText() ([]byte, error) {
	if s < Reserved || s > Deleting {
		return nil, fmt.Errorf("%w: mailbox state %d", ErrInvalidState, uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads a state's name; an unknown name is refused.
func (s *MailboxState) UnmarshalText(b []byte) error {
	for st := Reserved; st <= Deleting; st++ {
		if string(b) == st.String() {
			*s = st
			return nil
		}
	}
	return fmt.Errorf("%w: mailbox state %q", ErrInvalidState, b)
}

// Copy is one backend's copy of a mailbox and the UID slot that backend
// allocates from: it gives only UIDs u with u % Mailbox.Stride == Slot.
type Copy struct {
	Backend string `json:"backend"`
	Slot    uint32 `json:"slot"`
}

// ACE is one access-control entry (RFC 4314): an identifier and its rights
// as a string of right letters in canonical order.
type ACE struct {
	Identifier string `json:"identifier"`
	Rights     string `json:"rights"`
}

// Mailbox is the directory's record of one mailbox. Records held by the FSM
// are never changed in place: a command replaces the record, so a reader may
// keep a *Mailbox it got from a lookup without holding any lock.
type Mailbox struct {
	ID          uint64       `json:"id"`   // never changes for the life of the mailbox; the spool stores by ID
	Name        string       `json:"name"` // canonical internal name, see names.go
	State       MailboxState `json:"state"`
	Primary     Copy         `json:"primary"`
	Replicas    []Copy       `json:"replicas"`
	Stride      uint32       `json:"stride"`      // number of UID slots; 2 by default
	UIDValidity uint32       `json:"uidvalidity"` // assigned at Reserve, so that a new copy is made with it
	ACL         []ACE        `json:"acl"`
	SpecialUse  string       `json:"special_use"` // RFC 6154 attribute such as `\Sent`, or empty
	// Epoch counts the changes of the mailbox's placement (its primary or
	// its set of replicas). A primary sends the epoch it saw with every
	// change it replicates, and a replica refuses a change sent under an
	// epoch the directory has left: a deposed primary learns that it no
	// longer serves the mailbox, never that a replica was lost.
	Epoch uint64 `json:"epoch"`

	// The reservation, while State is Reserved (and kept afterwards for the
	// record of who created it).
	Reservation string `json:"reservation"` // reservation id chosen by the reserving backend
	ReservedBy  string `json:"reserved_by"` // backend id
	ReservedAt  int64  `json:"reserved_at"` // unix nanoseconds, chosen by the proposer
}

// UserState says whether a user may log in and receive mail.
type UserState uint8

const (
	UserActive UserState = iota + 1
	UserDisabled
)

// User is an account.
type User struct {
	Name string // canonical, see ValidateUser
	// PasswordHash is bcrypt ("$2a$...") when made here; an imported one is
	// kept as it was: bcrypt, argon2id or argon2i in PHC form, SHA-crypt
	// ("$6$", "$5$"), each maybe behind Dovecot's {SCHEME} prefix. The FSM
	// stores it as given; auth.ValidHash is the check an import makes.
	PasswordHash string
	State        UserState
	QuotaBytes   int64 // 0: no quota
	CreatedAt    int64 // unix nanoseconds, chosen by the proposer
	// Admin may authenticate as another user (SASL PLAIN with an
	// authorization id): helpdesks and migrations.
	Admin bool
}

// BackendState is a backend's availability as the directory records it.
type BackendState uint8

const (
	BackendUp BackendState = iota + 1
	BackendDraining
	BackendDown
)

func (s BackendState) String() string {
	switch s {
	case BackendUp:
		return "up"
	case BackendDraining:
		return "draining"
	case BackendDown:
		return "down"
	}
	return "unknown"
}

// MarshalText is the state's name on the cluster API ("up").
func (s BackendState) MarshalText() ([]byte, error) {
	if s < BackendUp || s > BackendDown {
		return nil, fmt.Errorf("%w: backend state %d", ErrInvalidState, uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads a state's name; an unknown name is refused.
func (s *BackendState) UnmarshalText(b []byte) error {
	for st := BackendUp; st <= BackendDown; st++ {
		if string(b) == st.String() {
			*s = st
			return nil
		}
	}
	return fmt.Errorf("%w: backend state %q", ErrInvalidState, b)
}

// Backend is a node holding a mail spool.
type Backend struct {
	ID       string       `json:"id"`
	IMAPAddr string       `json:"imap_addr"` // backend IMAP listener, host:port
	LMTPAddr string       `json:"lmtp_addr"` // backend LMTP listener, host:port
	APIAddr  string       `json:"api_addr"`  // cluster API of the backend's node, host:port
	State    BackendState `json:"state"`
	Weight   uint32       `json:"weight"`
	Since    int64        `json:"since"` // unix nanoseconds of the last state change, chosen by the proposer
}
