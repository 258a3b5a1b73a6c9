package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/rookery-mail/rookery/jepsen/nemesis"
	"github.com/rookery-mail/rookery/jepsen/netns"
)

// nsPorts are the ports every node binds in NetNetns mode: each node has a
// namespace and an address of its own, so the same ports never collide.
var nsPorts = Addrs{
	Raft: "7000", API: "7001", Gossip: "7946", BackendIMAP: "1143",
	BackendLMTP: "1024", IMAP: "143", LMTP: "24",
}

// layoutNetns builds a namespace per node and writes the configs: each node
// binds its namespace's address, sends from it, and advertises it as it is,
// since no proxy stands in between; the harness reaches the nodes from its
// own address on the same subnet.
func (c *Cluster) layoutNetns(ctx context.Context) error {
	network, err := netns.Create(ctx, netns.Config{Nodes: c.cfg.Nodes, Logger: c.log})
	if err != nil {
		return err
	}
	c.net = network
	var join []string
	for i, nd := range network.Nodes {
		name := nemesis.NodeName(i)
		ip := nd.IP.String()
		addrs := nsAddrs(ip)
		dir := filepath.Join(c.cfg.Dir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		c.Nodes = append(c.Nodes, &Node{
			Index: i, Name: name, IP: ip, Real: addrs, Proxy: addrs,
			bin: c.cfg.Rookery, env: c.cfg.Env, dir: dir, net: network,
			config: filepath.Join(dir, "node.toml"), logPath: filepath.Join(dir, "node.log"),
		})
		join = append(join, addrs.Gossip)
	}
	for _, n := range c.Nodes {
		if err := n.writeConfig(c.secret, join, c.cfg.Nodes); err != nil {
			return err
		}
	}
	c.log.Info("nodes in network namespaces", "subnet", network.Subnet, "harness_ip", network.HostIP)
	return nil
}

func nsAddrs(ip string) Addrs {
	at := func(port string) string { return net.JoinHostPort(ip, port) }
	return Addrs{
		Raft: at(nsPorts.Raft), API: at(nsPorts.API), Gossip: at(nsPorts.Gossip),
		BackendIMAP: at(nsPorts.BackendIMAP), BackendLMTP: at(nsPorts.BackendLMTP),
		IMAP: at(nsPorts.IMAP), LMTP: at(nsPorts.LMTP),
	}
}

// NetworkDescription names the network for logs and test.json.
func (c *Cluster) NetworkDescription() string {
	if c.net == nil {
		return fmt.Sprintf("%s: nodes on 127.0.0.11+ behind proxies on %s", NetProxy, proxyHost)
	}
	return fmt.Sprintf("%s: subnet %s, hub %s, harness at %s", NetNetns, c.net.Subnet, c.net.Hub, c.net.HostIP)
}
