// Package cluster starts a Rookery cluster of real `rookery node` processes
// on loopback for the jepsen harness, each behind fault-injecting proxies,
// and kills, pauses and restarts them by PID.
//
// Node i binds every listener on its own loopback address, 127.0.0.(11+i),
// sends every connection to another node from it, and advertises the
// addresses of its proxies (on 127.0.0.1) instead of its own. The proxies
// name the sending node by the source address, so the Faults table can cut
// any link between two nodes without root.
//
// With Config.Net set to NetNetns (root only), node i runs instead in a
// network namespace of its own (package netns), binds fixed ports on its
// namespace's address, advertises them as they are, and Partition drops
// packets in the kernel.
package cluster

import (
	"fmt"

	"github.com/rookery-mail/rookery/internal/freeport"
)

// Addrs are one node's listeners.
type Addrs struct {
	Raft        string
	API         string
	Gossip      string // TCP and UDP on the same port
	BackendIMAP string
	BackendLMTP string
	IMAP        string // frontend
	LMTP        string // frontend
}

// NodeIP is the loopback address node i (from 0) binds and sends from.
func NodeIP(i int) string { return fmt.Sprintf("127.0.0.%d", 11+i) }

// ClientSource is the name the proxies give traffic from the harness's own
// clients (which connect from 127.0.0.1).
const ClientSource = "127.0.0.1"

// proxyHost is where every proxy listens.
const proxyHost = "127.0.0.1"

// freeAddrs picks a free port for each listener of a node on ip. The
// listeners are held until every port is chosen so that none repeats; the
// gossip port is also free for UDP.
func freeAddrs(ip string) (Addrs, error) {
	pick := func(udp bool) (string, error) {
		// Below the ephemeral range (see freeport): nodes dial out from
		// their own address, and a source port the kernel picks for one of
		// those connections must not be a port a listener is yet to bind.
		addr, err := freeport.Pick(ip, udp)
		if err != nil {
			return "", fmt.Errorf("%w: no free TCP and UDP port on %s", ErrBadConfig, ip)
		}
		return addr, nil
	}
	var a Addrs
	var err error
	for _, f := range []struct {
		dst *string
		udp bool
	}{{&a.Raft, false}, {&a.API, false}, {&a.Gossip, true}, {&a.BackendIMAP, false},
		{&a.BackendLMTP, false}, {&a.IMAP, false}, {&a.LMTP, false}} {
		if *f.dst, err = pick(f.udp); err != nil {
			return a, err
		}
	}
	return a, nil
}
