package cluster

import "errors"

var (
	// ErrBadConfig: the cluster cannot be laid out as asked.
	ErrBadConfig = errors.New("cluster: bad config")
	// ErrNotRunning: the node's process is not running.
	ErrNotRunning = errors.New("cluster: node not running")
	// ErrNoLeader: the nodes asked agree on no leader.
	ErrNoLeader = errors.New("cluster: no leader")
	// ErrNotRecovered: the cluster did not converge within the bound.
	ErrNotRecovered = errors.New("cluster: not recovered")
	// ErrAdmin: a rookery admin command failed.
	ErrAdmin = errors.New("cluster: admin command failed")
	// ErrUnsupported: a fault this cluster's network cannot inject.
	ErrUnsupported = errors.New("cluster: fault not supported by this network")
)
