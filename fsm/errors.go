package fsm

import (
	"errors"
	"fmt"
)

// Broken rules: returned to the proposer in Result.Err, never a panic. Each
// has a stable code (see ErrorCode) so that a forwarded write can carry it
// across the cluster API and come back as the same sentinel.
var (
	ErrInvalidName      = errors.New("fsm: invalid mailbox name")
	ErrInvalidUser      = errors.New("fsm: invalid user name")
	ErrNameExists       = errors.New("fsm: mailbox name exists")
	ErrNoMailbox        = errors.New("fsm: no such mailbox")
	ErrWrongReservation = errors.New("fsm: wrong reservation")
	ErrNotActive        = errors.New("fsm: mailbox is not active")
	ErrUserExists       = errors.New("fsm: user exists")
	ErrNoUser           = errors.New("fsm: no such user")
	ErrNoBackend        = errors.New("fsm: no such backend")
	ErrInvalidCommand   = errors.New("fsm: invalid command")
	ErrUnknownCommand   = errors.New("fsm: unknown command type")
	ErrInvalidACL       = errors.New("fsm: invalid access-control entry")
	ErrMailboxMoving    = errors.New("fsm: mailbox is moving")
	ErrNoMove           = errors.New("fsm: no such move")
	ErrInboxInUse       = errors.New("fsm: a user's INBOX is deleted only with the user")
	ErrInvalidDomain    = errors.New("fsm: invalid mail domain")
	ErrInvalidAddress   = errors.New("fsm: invalid alias address")
	ErrNoDomain         = errors.New("fsm: domain not served")
	ErrDomainInUse      = errors.New("fsm: domain in use")
	ErrAddressTaken     = errors.New("fsm: address taken")
	ErrNoAlias          = errors.New("fsm: no such alias")
)

// ErrInvalidState: a mailbox or backend state that has no name, on the
// cluster API's JSON (MarshalText, UnmarshalText).
var ErrInvalidState = errors.New("fsm: invalid state")

// ErrBadAddress: a recipient address that RFC 5321 does not allow. It is
// an error of parsing (ParseRecipient), never a broken rule in a Result.
var ErrBadAddress = errors.New("fsm: malformed recipient address")

// errorCodes are stable: a code, once given, keeps its meaning, since nodes
// of different versions exchange them.
var errorCodes = []struct {
	code string
	err  error
}{
	{"invalid_name", ErrInvalidName},
	{"invalid_user", ErrInvalidUser},
	{"name_exists", ErrNameExists},
	{"no_mailbox", ErrNoMailbox},
	{"wrong_reservation", ErrWrongReservation},
	{"not_active", ErrNotActive},
	{"user_exists", ErrUserExists},
	{"no_user", ErrNoUser},
	{"no_backend", ErrNoBackend},
	{"invalid_command", ErrInvalidCommand},
	{"unknown_command", ErrUnknownCommand},
	{"invalid_acl", ErrInvalidACL},
	{"mailbox_moving", ErrMailboxMoving},
	{"no_move", ErrNoMove},
	{"inbox_in_use", ErrInboxInUse},
	{"invalid_domain", ErrInvalidDomain},
	{"invalid_address", ErrInvalidAddress},
	{"no_domain", ErrNoDomain},
	{"domain_in_use", ErrDomainInUse},
	{"address_taken", ErrAddressTaken},
	{"no_alias", ErrNoAlias},
}

// NamedError is a broken rule's sentinel and the stable code it crosses
// the cluster API by.
type NamedError struct {
	Name string
	Err  error
}

// ErrorCodes lists every broken rule's code: what the cluster API's code
// table for the fsm is built from (directory.FSMCodes), in one place.
func ErrorCodes() []NamedError {
	out := make([]NamedError, len(errorCodes))
	for i, c := range errorCodes {
		out[i] = NamedError{Name: c.code, Err: c.err}
	}
	return out
}

// CodeUnknown is the code of an error that is none of the sentinels.
const CodeUnknown = "unknown"

// ErrorCode is the stable code of err's sentinel: "" for nil, CodeUnknown
// for an error that wraps none of them.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return CodeUnknown
}

// ErrorFromCode turns a code from ErrorCode back into its sentinel. An
// unknown code (from a newer node, or CodeUnknown) becomes an error that
// names it and matches no sentinel.
func ErrorFromCode(code string) error {
	if code == "" {
		return nil
	}
	for _, c := range errorCodes {
		if c.code == code {
			return c.err
		}
	}
	return fmt.Errorf("fsm: error code %q", code)
}
