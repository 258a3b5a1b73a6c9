// Package netproxy puts a fault-injecting relay in front of each node, so a
// test can cut, delay or heal the traffic between two nodes without root.
//
// Each node binds to its own loopback address (127.0.0.11, 127.0.0.12, ...)
// and originates its connections from it, and advertises its proxy's address
// instead of its own. A proxy in front of node B therefore tells which node
// a connection or datagram comes from by its source address, and applies the
// state of that link from the shared Faults table: TCP through Proxy, UDP
// (memberlist's gossip) through Relay.
package netproxy

import (
	"sync"
	"time"
)

// CutMode says what a cut link does to TCP traffic.
type CutMode int

const (
	// Blackhole: nothing flows, as when packets are dropped. New
	// connections are accepted and held; established ones stall. Held bytes
	// flow once the link heals, as TCP would retransmit them.
	Blackhole CutMode = iota
	// Reset: new connections are reset at once and established ones are
	// reset, as when a firewall rejects.
	Reset
)

// Link is traffic in one direction between two nodes, by name.
type Link struct {
	From, To string
}

// LinkState is what the test has done to a link. The zero value is a
// healthy link.
type LinkState struct {
	Cut   bool
	Mode  CutMode
	Delay time.Duration
}

// Faults is the table of link states shared by every proxy and relay of a
// cluster. It is safe for concurrent use.
type Faults struct {
	mu      sync.Mutex
	links   map[Link]LinkState
	changed chan struct{}
}

// NewFaults returns a table with every link healthy.
func NewFaults() *Faults {
	return &Faults{links: make(map[Link]LinkState), changed: make(chan struct{})}
}

// State returns a link's state and a channel closed at the next change of
// any link.
func (f *Faults) State(from, to string) (LinkState, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.links[Link{from, to}], f.changed
}

// Cut stops traffic from one node to another.
func (f *Faults) Cut(from, to string, mode CutMode) {
	f.update(func() {
		s := f.links[Link{from, to}]
		s.Cut, s.Mode = true, mode
		f.links[Link{from, to}] = s
	})
}

// CutBoth stops traffic between two nodes in both directions.
func (f *Faults) CutBoth(a, b string, mode CutMode) {
	f.Cut(a, b, mode)
	f.Cut(b, a, mode)
}

// Delay holds each byte or datagram from one node to another for d before
// passing it on. Zero removes the delay.
func (f *Faults) Delay(from, to string, d time.Duration) {
	f.update(func() {
		s := f.links[Link{from, to}]
		s.Delay = d
		f.links[Link{from, to}] = s
	})
}

// Heal restores a link: no cut, no delay.
func (f *Faults) Heal(from, to string) {
	f.update(func() { delete(f.links, Link{from, to}) })
}

// HealAll restores every link.
func (f *Faults) HealAll() {
	f.update(func() { clear(f.links) })
}

// Partition replaces every cut at once with the given ones, so that a
// partition's shape never shows half applied; delays stay as they are.
func (f *Faults) Partition(cuts []Link, mode CutMode) {
	f.update(func() {
		for l, s := range f.links {
			s.Cut = false
			if s == (LinkState{}) {
				delete(f.links, l)
			} else {
				f.links[l] = s
			}
		}
		for _, l := range cuts {
			s := f.links[l]
			s.Cut, s.Mode = true, mode
			f.links[l] = s
		}
	})
}

// Links lists the links that are not healthy.
func (f *Faults) Links() map[Link]LinkState {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[Link]LinkState, len(f.links))
	for k, v := range f.links {
		out[k] = v
	}
	return out
}

// update applies a change and wakes everyone waiting on the old state.
func (f *Faults) update(change func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change()
	close(f.changed)
	f.changed = make(chan struct{})
}
