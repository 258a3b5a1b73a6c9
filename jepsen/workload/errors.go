package workload

import "errors"

var (
	// ErrUnknownWorkload: no workload has the name.
	ErrUnknownWorkload = errors.New("workload: unknown workload")
	// ErrSetup: a workload could not prepare its users or mailboxes.
	ErrSetup = errors.New("workload: setup failed")
)
