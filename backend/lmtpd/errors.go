package lmtpd

import "errors"

var (
	ErrInvalidConfig = errors.New("lmtpd: invalid config")
	// ErrNotHere: the recipient's mailbox is served by another backend,
	// as far as this backend's copy of the directory knows.
	ErrNotHere = errors.New("lmtpd: mailbox is not served by this backend")
	// ErrBadAddress: a recipient address that names no possible user.
	ErrBadAddress = errors.New("lmtpd: bad recipient address")
	// ErrClosing: a delivery that began as the server was stopping.
	ErrClosing = errors.New("lmtpd: server is stopping")
)
