package auth

import "errors"

var (
	ErrPasswordTooLong = errors.New("auth: password longer than 72 bytes")
	ErrEmptyPassword   = errors.New("auth: empty password")

	// ValidHash's answers, wrapped with the reason.
	ErrUnknownScheme = errors.New("auth: unknown password scheme")
	ErrMalformedHash = errors.New("auth: malformed password hash")
	ErrHashTooCostly = errors.New("auth: password hash demands more work than allowed")
)
