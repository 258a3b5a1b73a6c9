package nemesis

import "errors"

var (
	// ErrUnknownNemesis: a nemesis name this package does not know.
	ErrUnknownNemesis = errors.New("nemesis: unknown nemesis")
	// ErrTooFewNodes: a fault shape that needs more nodes than the cluster has.
	ErrTooFewNodes = errors.New("nemesis: too few nodes for this fault")
	// ErrBadConfig: a schedule configuration that cannot be used.
	ErrBadConfig = errors.New("nemesis: invalid configuration")
	// ErrNoLeader: a leader-targeted fault resolved without a known leader.
	ErrNoLeader = errors.New("nemesis: leader unknown")
)
