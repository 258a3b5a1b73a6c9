package netns

import "errors"

var (
	// ErrUnavailable: this host cannot make namespaces (not root, or no ip).
	ErrUnavailable = errors.New("netns: network namespaces unavailable")
	// ErrCommand: an ip command failed.
	ErrCommand = errors.New("netns: ip command failed")
	// ErrNoSubnet: every 10.213.k.0/24 is already in use on this host.
	ErrNoSubnet = errors.New("netns: no free subnet")
	// ErrClosed: the network was removed.
	ErrClosed = errors.New("netns: network closed")
)
