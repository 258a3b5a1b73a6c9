package imapd

import "errors"

// Errors of the session's own rules. Like the store's and the directory's
// errors they never reach a client as text: imapError turns them into IMAP
// responses.
var (
	ErrInvalidConfig = errors.New("imapd: invalid config")
	// ErrNoPermission: the user's rights on the mailbox do not allow the
	// operation.
	ErrNoPermission = errors.New("imapd: permission denied")
	// ErrNotHere: the mailbox exists but this backend is not its primary.
	ErrNotHere = errors.New("imapd: mailbox is served by another backend")
	// ErrUnavailable: the mailbox is being created, moved or deleted.
	ErrUnavailable = errors.New("imapd: mailbox is unavailable")
	// ErrReadOnly: a change was asked for in a mailbox opened with EXAMINE.
	ErrReadOnly = errors.New("imapd: mailbox is read-only")
	// ErrDirectory: the directory could not be read or written (no
	// leader, a timeout); the client should try again.
	ErrDirectory = errors.New("imapd: directory unavailable")
	// ErrNoSuchUser: a login named a user the directory does not know.
	ErrNoSuchUser = errors.New("imapd: no such user")
)
