package imapfront

import (
	"errors"
	"strings"

	"github.com/rookery-mail/rookery/fsm"
)

// The one place where errors become IMAP responses. Unknown errors are a
// temporary failure: NO [UNAVAILABLE], never a Go error string.

// fail answers tag with the response that err calls for.
func (s *session) fail(tag string, err error) {
	status, code, text := classify(err)
	if code != "" {
		s.tagged(tag, status, "[%s] %s", code, text)
		return
	}
	s.tagged(tag, status, "%s", text)
}

func classify(err error) (status, code, text string) {
	switch {
	case errors.Is(err, ErrSyntax), errors.Is(err, ErrNoArgument), errors.Is(err, ErrLineTooLong):
		return "BAD", "", describe(err)
	case errors.Is(err, ErrInvalidUTF7):
		// A well-formed argument that names no mailbox can have: NO, as
		// Dovecot answers (BAD is for what cannot be parsed).
		return "NO", "CANNOT", "mailbox name is not valid modified UTF-7"
	case errors.Is(err, ErrBadCharset):
		// RFC 5256 section 3 requires these two, and RFC 3501 section
		// 7.1 lists what is supported in the code.
		return "NO", "BADCHARSET (US-ASCII UTF-8)", "charset not supported"
	case errors.Is(err, ErrLiteralTooBig):
		return "NO", "TOOBIG", "literal too big"
	case errors.Is(err, ErrLimit):
		return "NO", "LIMIT", strings.TrimPrefix(err.Error(), ErrLimit.Error()+": ")
	case errors.Is(err, fsm.ErrInvalidName):
		return "NO", "CANNOT", "invalid mailbox name"
	case errors.Is(err, fsm.ErrNameExists):
		return "NO", "ALREADYEXISTS", "mailbox exists"
	case errors.Is(err, fsm.ErrNoMailbox), errors.Is(err, ErrNotVisible):
		return "NO", "NONEXISTENT", "no such mailbox"
	case errors.Is(err, ErrCreateLostMade):
		return "NO", "UNAVAILABLE", "mail store lost mid-command; the mailbox exists now, made by this CREATE or another"
	case errors.Is(err, ErrCreateLostNotMade):
		return "NO", "UNAVAILABLE", "mail store lost mid-command; the mailbox was not created; try again"
	case errors.Is(err, ErrNoRights):
		return "NO", "NOPERM", "permission denied"
	case errors.Is(err, fsm.ErrNotActive):
		return "NO", "INUSE", "mailbox is busy; try again"
	case errors.Is(err, ErrRenameInbox):
		return "NO", "CANNOT", "RENAME of INBOX is not supported; MOVE its messages instead"
	case errors.Is(err, fsm.ErrInboxInUse):
		return "NO", "CANNOT", "INBOX cannot be deleted"
	case errors.Is(err, fsm.ErrInvalidCommand):
		return "NO", "CANNOT", "operation not allowed"
	case errors.Is(err, errOverQuota):
		return "NO", "OVERQUOTA", "quota exceeded"
	case errors.Is(err, errNoQuotaRoot):
		return "NO", "NONEXISTENT", "no such quota root"
	case errors.Is(err, errQuotaByAdmin):
		return "NO", "NOPERM", "quotas are set by administrators"
	case errors.Is(err, ErrBackendDown):
		return "NO", "UNAVAILABLE", "mail store unavailable; try again"
	case errors.Is(err, errMailStoreChanged):
		return "NO", "UNAVAILABLE", "mail store changed; try again"
	case errors.Is(err, errNotOffered):
		return "NO", "CANNOT", strings.TrimPrefix(err.Error(), errNotOffered.Error()+": ") + " is not supported"
	}
	return "NO", "UNAVAILABLE", "temporary failure; try again"
}

// describe is the client-facing text of a framing or syntax error.
func describe(err error) string {
	switch {
	case errors.Is(err, ErrLineTooLong):
		return "line too long"
	case errors.Is(err, ErrNoArgument):
		return "missing argument"
	case errors.Is(err, ErrSyntax):
		msg := err.Error()
		i := strings.LastIndex(msg, ErrSyntax.Error()+": ")
		if i < 0 {
			return "syntax error"
		}
		return "syntax error: " + msg[i+len(ErrSyntax.Error())+2:]
	}
	return "syntax error"
}
