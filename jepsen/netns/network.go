// Package netns builds, for a jepsen run as root, a network of real Linux
// network namespaces: one per node, each joined by a veth pair to a bridge
// in a hub namespace, and one veth from the harness's own namespace into
// the hub, through which the harness's clients reach the nodes. Nodes run
// inside their namespaces (`ip netns exec`) and bind their namespace's
// address, so nothing they serve listens in the harness's namespace.
//
// A cut link drops packets in the kernel, at the receiving node: a policy
// routing rule in its namespace blackholes what arrives from the cut peer.
// Everything is removed again by Close, by a watchdog process if the
// harness dies first, and by RemoveLeftovers for anything older.
package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"slices"
	"sync"
	"time"
)

// Config says what network to build.
type Config struct {
	Nodes  int
	Logger *slog.Logger
}

// Validate checks the node count against the addresses of one /24.
func (c Config) Validate() error {
	if c.Nodes < 1 || c.Nodes > 200 {
		return fmt.Errorf("netns: %d nodes (1 to 200)", c.Nodes)
	}
	return nil
}

// Node is one node's namespace and the address it binds there.
type Node struct {
	Namespace string
	IP        netip.Addr
}

// Network is a run's namespaces, bridge and veth links.
type Network struct {
	Subnet netip.Prefix
	// HostIP is the harness's address on the subnet, in its own namespace.
	HostIP netip.Addr
	Hub    string // the namespace that holds the bridge
	Nodes  []Node
	// DelayUnsupported says why delays cannot be injected ("" when they
	// can): they need the kernel's netem qdisc.
	DelayUnsupported string

	id       runID
	ip       string
	log      *slog.Logger
	watchdog *watchdog

	mu     sync.Mutex
	closed bool
}

// Create builds the network: first it removes what dead harnesses left
// behind, then starts the watchdog that removes this run's network should
// the harness die, then makes the namespaces and links. On an error,
// whatever was made is removed again.
func Create(ctx context.Context, cfg Config) (_ *Network, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := Available(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ip, _ := ipPath()
	removed, err := RemoveLeftovers(ctx, false)
	if len(removed) > 0 {
		cfg.Logger.Info("removed leftovers of earlier runs", "names", removed)
	}
	if err != nil {
		cfg.Logger.Warn("removing leftovers of earlier runs", "error", err)
	}
	id := newRunID()
	n := &Network{Hub: id.hub(), id: id, ip: ip, log: cfg.Logger}
	for i := range cfg.Nodes {
		n.Nodes = append(n.Nodes, Node{Namespace: id.node(i)})
	}
	if n.watchdog, err = startWatchdog(ip, id.hostLink(), n.namespaces()); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	unlock, err := lockSubnets()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if n.Subnet, err = freeSubnet(ctx, ip); err != nil {
		return nil, err
	}
	n.HostIP = hostAddr(n.Subnet)
	for i := range n.Nodes {
		n.Nodes[i].IP = nodeAddr(n.Subnet, i)
	}
	if err := n.build(ctx); err != nil {
		return nil, err
	}
	n.DelayUnsupported = probeNetem(ctx, ip, n.Hub)
	if n.DelayUnsupported != "" {
		n.log.Info("no delay faults in this network", "reason", n.DelayUnsupported)
	}
	n.log.Info("network built", "subnet", n.Subnet, "hub", n.Hub, "host_ip", n.HostIP, "nodes", len(n.Nodes))
	return n, nil
}

// namespaces lists the run's namespaces: each node's, then the hub.
func (n *Network) namespaces() []string {
	out := make([]string, 0, len(n.Nodes)+1)
	for _, nd := range n.Nodes {
		out = append(out, nd.Namespace)
	}
	return append(out, n.Hub)
}

// build makes the hub with its bridge, each node's namespace with its link
// to the bridge, and the harness's link into the hub.
func (n *Network) build(ctx context.Context) error {
	bits := n.Subnet.Bits()
	if _, err := ipRun(ctx, n.ip, "", "netns", "add", n.Hub); err != nil {
		return err
	}
	if err := ipBatch(ctx, n.ip, n.Hub, []string{
		"link set dev lo up", "link add name br0 type bridge", "link set dev br0 up",
	}); err != nil {
		return err
	}
	for i, nd := range n.Nodes {
		port := fmt.Sprintf("n%d", i+1) // the node's bridge port, in the hub
		if _, err := ipRun(ctx, n.ip, "", "netns", "add", nd.Namespace); err != nil {
			return err
		}
		if err := ipBatch(ctx, n.ip, n.Hub, []string{
			"link add name " + port + " type veth peer name eth0 netns " + nd.Namespace,
			"link set dev " + port + " master br0", "link set dev " + port + " up",
		}); err != nil {
			return err
		}
		// Cuts are rules that must come before the local table's, which
		// the kernel puts first; it moves behind them.
		if err := ipBatch(ctx, n.ip, nd.Namespace, []string{
			"link set dev lo up",
			fmt.Sprintf("addr add %s/%d dev eth0", nd.IP, bits),
			"link set dev eth0 up",
			fmt.Sprintf("rule add pref %d lookup local", localPref),
			"rule del pref 0 lookup local",
		}); err != nil {
			return err
		}
	}
	host := n.id.hostLink()
	if err := ipBatch(ctx, n.ip, "", []string{"link add name " + host + " type veth peer name host netns " + n.Hub}); err != nil {
		return err
	}
	if err := ipBatch(ctx, n.ip, n.Hub, []string{"link set dev host master br0", "link set dev host up"}); err != nil {
		return err
	}
	return ipBatch(ctx, n.ip, "", []string{
		fmt.Sprintf("addr add %s/%d dev %s", n.HostIP, bits, host), "link set dev " + host + " up",
	})
}

// probeNetem says why netem delays are unavailable, or "".
func probeNetem(ctx context.Context, ip, ns string) string {
	tc, err := exec.LookPath("tc")
	if err != nil {
		tc = "/usr/sbin/tc"
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, ip, "netns", "exec", ns, tc, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("tc qdisc netem: %v: %s (the kernel lacks sch_netem, or tc is missing)", err, bytes.TrimSpace(out))
	}
	exec.CommandContext(ctx, ip, "netns", "exec", ns, tc, "qdisc", "del", "dev", "lo", "root").Run()
	return ""
}

// Command returns a command that runs name with args inside node i's
// namespace. `ip netns exec` replaces itself with the program, so the
// command's PID is the program's, for signals.
func (n *Network) Command(i int, name string, args ...string) *exec.Cmd {
	return exec.Command(n.ip, append([]string{"netns", "exec", n.Nodes[i].Namespace, name}, args...)...)
}

// Close removes the run's interface in the harness's namespace and every
// namespace of the run (killing, by PID, any process still inside one),
// checks that none is left, and lets the watchdog go. It is safe to call
// more than once.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := n.remove(ctx)
	if n.watchdog != nil {
		n.watchdog.release()
	}
	if err != nil {
		return err
	}
	n.log.Info("network removed", "hub", n.Hub)
	return nil
}

func (n *Network) remove(ctx context.Context) error {
	var errs []error
	host := n.id.hostLink()
	if ifs, err := links(ctx, n.ip, ""); err != nil {
		errs = append(errs, err)
	} else if slices.Contains(ifs, host) {
		if _, err := ipRun(ctx, n.ip, "", "link", "del", host); err != nil {
			errs = append(errs, err)
		}
	}
	present, err := namespaces(ctx, n.ip)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, ns := range n.namespaces() {
		if slices.Contains(present, ns) {
			errs = append(errs, removeNamespace(ctx, n.ip, ns, true))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return n.checkRemoved(ctx)
}

// checkRemoved confirms that no name of the run is left in `ip netns list`
// or among the host's interfaces.
func (n *Network) checkRemoved(ctx context.Context) error {
	nss, err := namespaces(ctx, n.ip)
	if err != nil {
		return err
	}
	ifs, err := links(ctx, n.ip, "")
	if err != nil {
		return err
	}
	var left []string
	for _, name := range append(nss, ifs...) {
		if n.id.owns(name) {
			left = append(left, name)
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("%w: still present after removal: %v", ErrCommand, left)
	}
	return nil
}
