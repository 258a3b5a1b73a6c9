package report

import "errors"

var (
	// ErrBadRun: a results directory whose files cannot be read back.
	ErrBadRun = errors.New("report: malformed results directory")
)
