package netproxy

import "errors"

var (
	// ErrBadConfig: a proxy configuration that cannot be used.
	ErrBadConfig = errors.New("netproxy: invalid configuration")
	// ErrClosed: the proxy or relay was closed.
	ErrClosed = errors.New("netproxy: closed")
)

// ErrTooManySources: a relay already tracks Config.MaxSessions sources.
var ErrTooManySources = errors.New("netproxy: too many sources")
