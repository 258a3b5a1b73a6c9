package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rookery-mail/rookery/jepsen/nemesis"
	"github.com/rookery-mail/rookery/jepsen/netns"
	"github.com/rookery-mail/rookery/jepsen/netproxy"
)

// Config says what cluster to start.
type Config struct {
	Nodes   int
	Rookery string // path of the rookery binary
	// Dir holds each node's directory (Dir/<name>/: config, log, data),
	// as report.NodeDir lays it out.
	Dir string
	// Env is added to each node's environment (fault-injection switches).
	Env []string
	// Net is how nodes are connected and links cut: NetProxy (the
	// default) or NetNetns.
	Net    string
	Logger *slog.Logger
}

// The ways of connecting the nodes (Config.Net).
const (
	// NetProxy: nodes on loopback, every link through a proxy of the
	// harness; no root needed.
	NetProxy = "proxy"
	// NetNetns: each node in its own network namespace behind a bridge,
	// links cut by dropping packets in the kernel; needs root.
	NetNetns = "netns"
)

// Cluster is a running set of nodes and the proxies in front of them.
type Cluster struct {
	cfg    Config
	log    *slog.Logger
	secret string
	// Faults is the proxies' table of link states; in NetNetns mode no
	// proxy reads it, and Partition cuts links in the kernel instead.
	Faults  *netproxy.Faults
	Nodes   []*Node
	proxies []io.Closer
	net     *netns.Network // in NetNetns mode
}

// Start lays out, configures and starts every node behind its proxies, and
// waits until each serves IMAP (its roles have started: the cluster has a
// leader) or ctx ends.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Nodes < 1 || cfg.Nodes > 200 {
		return nil, fmt.Errorf("%w: %d nodes", ErrBadConfig, cfg.Nodes)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Net == "" {
		cfg.Net = NetProxy
	}
	if cfg.Net != NetProxy && cfg.Net != NetNetns {
		return nil, fmt.Errorf("%w: network %q (proxy or netns)", ErrBadConfig, cfg.Net)
	}
	buf := make([]byte, 16)
	rand.Read(buf)
	c := &Cluster{cfg: cfg, log: cfg.Logger, secret: hex.EncodeToString(buf), Faults: netproxy.NewFaults()}
	layout := c.layout
	if cfg.Net == NetNetns {
		layout = func() error { return c.layoutNetns(ctx) }
	}
	if err := layout(); err != nil {
		c.Close()
		return nil, err
	}
	for _, n := range c.Nodes {
		if err := n.start(); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := c.WaitReady(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// layout picks addresses, starts the proxies and writes the configs.
func (c *Cluster) layout() error {
	sources := make(map[string]string)
	for i := range c.cfg.Nodes {
		sources[NodeIP(i)] = nemesis.NodeName(i)
	}
	var join []string
	for i := range c.cfg.Nodes {
		name := nemesis.NodeName(i)
		real, err := freeAddrs(NodeIP(i))
		if err != nil {
			return fmt.Errorf("%w: %s needs loopback address %s: %v", ErrBadConfig, name, NodeIP(i), err)
		}
		px, closers, err := startProxies(name, real, sources, c.Faults, c.log)
		c.proxies = append(c.proxies, closers...)
		if err != nil {
			return err
		}
		dir := filepath.Join(c.cfg.Dir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		c.Nodes = append(c.Nodes, &Node{
			Index: i, Name: name, IP: NodeIP(i), Real: real, Proxy: px,
			bin: c.cfg.Rookery, env: c.cfg.Env, dir: dir,
			config: filepath.Join(dir, "node.toml"), logPath: filepath.Join(dir, "node.log"),
		})
		join = append(join, px.Gossip)
	}
	for _, n := range c.Nodes {
		if err := n.writeConfig(c.secret, join, c.cfg.Nodes); err != nil {
			return err
		}
	}
	return nil
}

// Secret is the cluster secret (for the cluster API and rookery admin).
func (c *Cluster) Secret() string { return c.secret }

// WaitReady waits until every running node's frontend greets on IMAP.
func (c *Cluster) WaitReady(ctx context.Context) error {
	for _, n := range c.Nodes {
		for !imapGreets(n.Real.IMAP) {
			if !n.Running() {
				return fmt.Errorf("%w: %s exited while starting; see %s", ErrNotRunning, n.Name, n.logPath)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("cluster: %s not serving IMAP: %w", n.Name, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

func imapGreets(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4)
	_, err = io.ReadFull(conn, buf)
	return err == nil && string(buf) == "* OK"
}

// Kill sends SIGKILL to node i and waits for it to die.
func (c *Cluster) Kill(i int) error {
	err := c.Nodes[i].kill()
	c.Nodes[i].setPaused(false)
	return err
}

// Restart starts node i again with the same config and data, if it is not
// running.
func (c *Cluster) Restart(i int) error { return c.Nodes[i].start() }

// Pause stops node i with SIGSTOP.
func (c *Cluster) Pause(i int) error {
	if err := c.Nodes[i].signal(syscall.SIGSTOP); err != nil {
		return err
	}
	c.Nodes[i].setPaused(true)
	return nil
}

// Resume continues node i with SIGCONT.
func (c *Cluster) Resume(i int) error {
	c.Nodes[i].setPaused(false)
	return c.Nodes[i].signal(syscall.SIGCONT)
}

// Partition makes exactly the given links cut (traffic from node From to
// node To is lost) and every other link whole, in the proxies or, in
// NetNetns mode, in the kernel.
func (c *Cluster) Partition(ctx context.Context, cuts []nemesis.Link) error {
	if c.net != nil {
		links := make([]netns.Link, len(cuts))
		for i, l := range cuts {
			links[i] = netns.Link{From: l.From, To: l.To}
		}
		return c.net.Partition(ctx, links)
	}
	links := make([]netproxy.Link, len(cuts))
	for i, l := range cuts {
		links[i] = netproxy.Link{From: nemesis.NodeName(l.From), To: nemesis.NodeName(l.To)}
	}
	c.Faults.Partition(links, netproxy.Blackhole)
	return nil
}

// Network is the namespaces of a NetNetns cluster, nil otherwise.
func (c *Cluster) Network() *netns.Network { return c.net }

// HealAll restores every link, resumes every paused node and restarts
// every dead one.
func (c *Cluster) HealAll() error {
	c.Faults.HealAll()
	var errs []error
	if c.net != nil {
		errs = append(errs, c.net.Heal(context.Background()))
	}
	for i, n := range c.Nodes {
		if n.Paused() {
			errs = append(errs, c.Resume(i))
		}
		if !n.Running() {
			errs = append(errs, c.Restart(i))
		}
	}
	return errors.Join(errs...)
}

// Close stops every node the cluster started (by PID), its proxies, and
// removes its namespaces.
func (c *Cluster) Close() error {
	var errs []error
	done := make(chan error, len(c.Nodes))
	for _, n := range c.Nodes {
		go func() { done <- n.stop(20 * time.Second) }()
	}
	for range c.Nodes {
		errs = append(errs, <-done)
	}
	for _, p := range c.proxies {
		p.Close()
	}
	if c.net != nil {
		errs = append(errs, c.net.Close())
	}
	return errors.Join(errs...)
}
