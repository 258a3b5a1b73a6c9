package lmtp

import "errors"

var (
	ErrBadAddress    = errors.New("lmtp: malformed recipient address")
	ErrUnknownDomain = errors.New("lmtp: domain not served here")
	ErrNoUser        = errors.New("lmtp: no such user")
	ErrUnavailable   = errors.New("lmtp: mailbox temporarily unavailable")
	ErrBackendDown   = errors.New("lmtp: backend unavailable")
	ErrTooManyRcpts  = errors.New("lmtp: too many recipients")
	ErrTooBig        = errors.New("lmtp: message too big")
	ErrNoSender      = errors.New("lmtp: MAIL FROM first")
	ErrClosed        = errors.New("lmtp: server closed")
)
