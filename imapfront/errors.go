package imapfront

import "errors"

// Sentinel errors. At the client edge, reply.go turns them into IMAP
// responses; a client never sees these strings.
var (
	ErrInvalidUTF7     = errors.New("imapfront: invalid modified UTF-7")
	ErrLineTooLong     = errors.New("imapfront: command line too long")
	ErrLiteralTooBig   = errors.New("imapfront: literal too big")
	ErrLiteralMinus    = errors.New("imapfront: non-synchronizing literal too big for LITERAL-")
	ErrSyntax          = errors.New("imapfront: syntax error")
	ErrNoArgument      = errors.New("imapfront: missing argument")
	ErrBadCharset      = errors.New("imapfront: charset not supported")
	ErrBackendDown     = errors.New("imapfront: backend unavailable")
	ErrBackendProtocol = errors.New("imapfront: backend protocol error")
	ErrClosed          = errors.New("imapfront: server closed")
	ErrConfig          = errors.New("imapfront: invalid config")
	ErrTooManyConns    = errors.New("imapfront: too many connections")
	ErrNotVisible      = errors.New("imapfront: mailbox not visible to user")
	ErrNoRights        = errors.New("imapfront: missing rights")
	ErrBadCredentials  = errors.New("imapfront: bad password or disabled user")
	ErrNotAdmin        = errors.New("imapfront: only an admin may act as another user")
	ErrUserDisabled    = errors.New("imapfront: user disabled")
	// ErrPasswordsUnavailable: a password source could not tell (LDAP
	// down); the client gets NO [UNAVAILABLE], never a wrong refusal.
	ErrPasswordsUnavailable = errors.New("imapfront: password source unavailable")
	errTryCreate            = errors.New("imapfront: no such mailbox; try CREATE")
	// ErrRenameInbox: RENAME INBOX x, a move of INBOX's messages that is
	// not offered.
	ErrRenameInbox  = errors.New("imapfront: RENAME of INBOX is not supported")
	errNoQuotaRoot  = errors.New("imapfront: no such quota root")
	errOverQuota    = errors.New("imapfront: over quota")
	errQuotaByAdmin = errors.New("imapfront: quotas are set by administrators")
	// ErrLimit: a command would pass a limit of the server (RFC 5530 LIMIT).
	ErrLimit = errors.New("imapfront: over a limit")
	// The fates of a CREATE whose backend was lost before it answered
	// (createfate.go).
	ErrCreateLostMade    = errors.New("imapfront: backend lost; the mailbox exists now, made by this CREATE or another")
	ErrCreateLostNotMade = errors.New("imapfront: backend lost; the mailbox was not created")
)
