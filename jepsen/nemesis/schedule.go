package nemesis

import (
	"fmt"
	"strings"
	"time"
)

// Kind names a nemesis, as given on the command line.
type Kind string

const (
	PartitionOne            Kind = "partition-one"
	PartitionMajority       Kind = "partition-majority"
	PartitionMajoritiesRing Kind = "partition-majorities-ring"
	PartitionBridge         Kind = "partition-bridge"
	PartitionLeader         Kind = "partition-leader"
	PartitionOneWay         Kind = "partition-one-way"
	Kill                    Kind = "kill"
	KillLeader              Kind = "kill-leader"
	Pause                   Kind = "pause"
	PauseLeader             Kind = "pause-leader"
	// FailoverLagging slows every link into one node, so that its
	// directory copy lags the leader by seconds while it keeps serving,
	// then fails its mailboxes over to their replicas through another
	// node: a deposed primary under write load that still believes it is
	// primary. Stopping it takes the delays away; the node rejoins as a
	// replica.
	FailoverLagging Kind = "failover-lagging"
)

// family groups kinds that cannot overlap with each other: one grudge at a
// time, and kills and pauses each on their own stream.
func (k Kind) family() (string, bool) {
	switch k {
	case PartitionOne, PartitionMajority, PartitionMajoritiesRing, PartitionBridge, PartitionLeader, PartitionOneWay:
		return "partition", true
	case Kill, KillLeader:
		return "kill", true
	case Pause, PauseLeader:
		return "pause", true
	case FailoverLagging:
		return "failover", true
	}
	return "", false
}

// TargetsLeader reports whether the fault is aimed at whichever node leads
// when it starts, which only the runner can know.
func (k Kind) TargetsLeader() bool {
	return k == PartitionLeader || k == KillLeader || k == PauseLeader
}

// ParseKinds reads a comma-separated nemesis list.
func ParseKinds(s string) ([]Kind, error) {
	var out []Kind
	for _, f := range strings.Split(s, ",") {
		k := Kind(strings.TrimSpace(f))
		if k == "" {
			continue
		}
		if _, ok := k.family(); !ok {
			return nil, fmt.Errorf("%w: %q", ErrUnknownNemesis, k)
		}
		out = append(out, k)
	}
	return out, nil
}

// Fault is one fault to start and later stop. For a partition Grudge is
// set; for a kill or a pause, Nodes. Faults aimed at the leader carry
// neither until Resolve fills them in.
type Fault struct {
	ID     int    `json:"id"`
	Kind   Kind   `json:"kind"`
	Grudge Grudge `json:"grudge,omitempty"`
	Nodes  []int  `json:"nodes,omitempty"`
}

// Resolve fills in a leader-targeted fault once the runner knows the leader.
func (f Fault) Resolve(n, leader int) (Fault, error) {
	if !f.Kind.TargetsLeader() {
		return f, nil
	}
	if leader < 0 || leader >= n {
		return f, fmt.Errorf("%w: %s with leader %d of %d nodes", ErrNoLeader, f.Kind, leader, n)
	}
	if f.Kind == PartitionLeader {
		f.Grudge = Isolate(n, leader)
	} else {
		f.Nodes = []int{leader}
	}
	return f, nil
}

// Affected lists the nodes the fault cuts off, stops or kills.
func (f Fault) Affected() []int {
	if f.Grudge != nil {
		return f.Grudge.Affected()
	}
	return append([]int(nil), f.Nodes...)
}

// Action is what an event does to its fault.
type Action string

const (
	Start Action = "start"
	Stop  Action = "stop" // heal, restart, resume
)

// Event is one step of a schedule: at At from the start of the run, start
// or stop a fault.
type Event struct {
	At     time.Duration `json:"at_ns"`
	Action Action        `json:"action"`
	Fault  Fault         `json:"fault"`
}

// Config says what to schedule.
type Config struct {
	Nodes    int
	Kinds    []Kind
	Interval time.Duration // mean time a fault lasts, and mean quiet time between faults
	Duration time.Duration // every fault is stopped by then
	Seed     int64
}

// Validate reports a configuration that cannot be scheduled.
func (c Config) Validate() error {
	switch {
	case c.Nodes < 1:
		return fmt.Errorf("%w: %d nodes", ErrBadConfig, c.Nodes)
	case c.Interval <= 0 || c.Duration <= 0:
		return fmt.Errorf("%w: interval %v, duration %v", ErrBadConfig, c.Interval, c.Duration)
	}
	for _, k := range c.Kinds {
		if _, ok := k.family(); !ok {
			return fmt.Errorf("%w: %q", ErrUnknownNemesis, k)
		}
	}
	return nil
}
