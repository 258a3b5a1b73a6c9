package checker

import "errors"

var (
	// ErrBadResult: a stored result that this package could not have written.
	ErrBadResult = errors.New("checker: malformed result")
	// ErrUnknownChecker: a checker or workload name this package does not know.
	ErrUnknownChecker = errors.New("checker: unknown checker")
	// ErrBadConfig: a checker configuration that cannot be used.
	ErrBadConfig = errors.New("checker: invalid configuration")
)
