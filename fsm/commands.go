package fsm

// CommandType is the first byte of every log entry. Type ids are never
// reused. A type with IgnoreUnknown set may be skipped by a replica that does
// not know it (a rolling upgrade); any other unknown type stops the replica.
type CommandType uint8

// IgnoreUnknown marks a command type that older replicas may skip.
const IgnoreUnknown CommandType = 0x80

const (
	TypeReserve             CommandType = 1
	TypeActivate            CommandType = 2
	TypeRelease             CommandType = 3
	TypeMarkDeleting        CommandType = 4
	TypeRemove              CommandType = 5
	TypeRename              CommandType = 6
	TypeSetACL              CommandType = 7
	TypeUserAdd             CommandType = 8
	TypeUserPasswd          CommandType = 9
	TypeUserDelete          CommandType = 10
	TypeSubscribe           CommandType = 11
	TypeUnsubscribe         CommandType = 12
	TypeBackendRegister     CommandType = 13
	TypeBackendState        CommandType = 14
	TypeReleaseReservations CommandType = 15
	TypeNoop                CommandType = 16
	TypeSetInSync           CommandType = 17
	TypeFailover            CommandType = 18
	TypeMoveStart           CommandType = 19
	TypeMoveMark            CommandType = 20
	TypeMoveSwitch          CommandType = 21
	TypeMoveAbort           CommandType = 22
	TypeUserQuota           CommandType = 23
	TypeUserAdmin           CommandType = 24
	TypeRemoveDeletions     CommandType = 26
	TypeModifyACL           CommandType = 27
	TypeRereplicate         CommandType = 28
	TypeDomainAdd           CommandType = 29
	TypeDomainRemove        CommandType = 30
	TypeAliasAdd            CommandType = 31
	TypeAliasRemove         CommandType = 32
)

// Command is one change to the directory. Every time or random value a
// command needs is a field set by the proposer, so that applying it is
// deterministic on every replica.
type Command interface {
	Type() CommandType
}

// Reserve claims Name for Backend under a reservation id. It fails with
// ErrNameExists if the name is reserved or active. It assigns the mailbox id.
type Reserve struct {
	Name        string
	Backend     string
	Replicas    []string // backends that will hold replicas; slots 1.. in order
	Stride      uint32   // 0 means the default, 2
	Reservation string
	At          int64 // unix nanoseconds; the leader sets it by its own clock when it appends the entry
	SpecialUse  string
}

// Activate makes a reserved mailbox active and assigns its uidvalidity. It
// fails with ErrWrongReservation unless Reservation matches.
type Activate struct {
	Name        string
	Reservation string
}

// Release drops a reservation (the backend could not create the mailbox, or
// found on start-up that it never did). Releasing a name that is not reserved
// under Reservation fails with ErrWrongReservation.
type Release struct {
	Name        string
	Reservation string
}

// MarkDeleting starts a DELETE: the mailbox takes no more mail.
type MarkDeleting struct {
	Name string
}

// Remove ends a DELETE: the entry goes once the spool has removed the mail.
// ID guards against removing a newer mailbox of the same name.
type Remove struct {
	Name string
	ID   uint64
}

// Rename renames a mailbox and every mailbox below it in the hierarchy, in
// one step. All of them must be active; To and its would-be children must
// not exist.
type Rename struct {
	From string
	To   string
}

// SetACL sets Identifier's rights on Name; empty Rights removes the entry.
type SetACL struct {
	Name       string
	Identifier string
	Rights     string
}

type UserAdd struct {
	Name         string
	PasswordHash string
	QuotaBytes   int64
	At           int64
}

type UserPasswd struct {
	Name         string
	PasswordHash string
}

// UserQuota sets a user's storage quota in bytes; 0 removes it.
type UserQuota struct {
	Name       string
	QuotaBytes int64
}

// UserAdmin marks a user as an admin, who may log in as another user
// (SASL PLAIN with an authorization id), or clears the mark.
type UserAdmin struct {
	Name  string
	Admin bool
}

type UserDelete struct {
	Name string
}

type Subscribe struct {
	User string
	Name string
}

type Unsubscribe struct {
	User string
	Name string
}

// BackendRegister adds a backend or updates its addresses and weight. A
// registered backend starts up.
type BackendRegister struct {
	ID       string
	IMAPAddr string
	LMTPAddr string
	APIAddr  string
	Weight   uint32
	At       int64
}

type SetBackendState struct {
	ID    string
	State BackendState
	At    int64
}

// ReleaseReservations drops every reservation held by Backend (when Backend
// is non-empty) and every reservation made before Before (when Before is
// non-zero). The leader proposes it when a backend is gone or a reservation
// is older than the deadline.
type ReleaseReservations struct {
	Backend string
	Before  int64
}

// RemoveDeletions removes every mailbox in state Deleting whose primary is
// Backend: the leader proposes it once the backend is down, so that a
// DELETE begun on a backend that then died never leaves the name stuck.
// What the backend (or a replica) still holds of such a mailbox is
// quarantined by its reconcile when it starts, never served again.
type RemoveDeletions struct {
	Backend string
}

// Noop changes nothing; it measures the log and checks leadership.
type Noop struct{}

func (Reserve) Type() CommandType             { return TypeReserve }
func (Activate) Type() CommandType            { return TypeActivate }
func (Release) Type() CommandType             { return TypeRelease }
func (MarkDeleting) Type() CommandType        { return TypeMarkDeleting }
func (Remove) Type() CommandType              { return TypeRemove }
func (Rename) Type() CommandType              { return TypeRename }
func (SetACL) Type() CommandType              { return TypeSetACL }
func (UserAdd) Type() CommandType             { return TypeUserAdd }
func (UserPasswd) Type() CommandType          { return TypeUserPasswd }
func (UserDelete) Type() CommandType          { return TypeUserDelete }
func (UserQuota) Type() CommandType           { return TypeUserQuota }
func (UserAdmin) Type() CommandType           { return TypeUserAdmin }
func (Subscribe) Type() CommandType           { return TypeSubscribe }
func (Unsubscribe) Type() CommandType         { return TypeUnsubscribe }
func (BackendRegister) Type() CommandType     { return TypeBackendRegister }
func (SetBackendState) Type() CommandType     { return TypeBackendState }
func (ReleaseReservations) Type() CommandType { return TypeReleaseReservations }
func (RemoveDeletions) Type() CommandType     { return TypeRemoveDeletions }
func (Noop) Type() CommandType                { return TypeNoop }

// Result is what applying a command returns to its proposer. Err is nil or
// one of the sentinels in errors.go; Mailbox is the record after the command
// where the command concerns one mailbox (Reserve, Activate, MarkDeleting,
// SetACL, Rename's target), or the record removed (Release, Remove).
type Result struct {
	Index   uint64 // the Raft log index the command was applied at
	Err     error
	Mailbox *Mailbox
	Count   int // how many records the command touched (ReleaseReservations, Rename)
}
