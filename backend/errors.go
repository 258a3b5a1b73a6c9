package backend

import (
	"errors"
	"fmt"

	"github.com/rookery-mail/rookery/backend/imapd"
)

var (
	ErrInvalidConfig = errors.New("backend: invalid config")
	// ErrNotPrimary: the mailbox is served by another backend. It is an
	// imapd.ErrNotHere, so IMAP clients get UNAVAILABLE.
	ErrNotPrimary = fmt.Errorf("backend: mailbox is served by another backend: %w", imapd.ErrNotHere)
	// ErrDirectory: a directory call failed for a reason other than a
	// broken rule (no leader, timeout); the operation may be retried. It
	// is an imapd.ErrDirectory, so IMAP clients are told to try again.
	ErrDirectory = fmt.Errorf("backend: directory unavailable: %w", imapd.ErrDirectory)
	ErrClosed    = errors.New("backend: closed")
)
