package auth

import "errors"

var (
	ErrPasswordTooLong = errors.New("auth: password longer than 72 bytes")
	ErrEmptyPassword   = errors.New("auth: empty password")
)
