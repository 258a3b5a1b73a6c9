package netproxy

import (
	"fmt"
	"net"
	"time"
)

// Config places one proxy or relay in front of one node.
type Config struct {
	// Node is the name of the node behind the proxy.
	Node string
	// Listen is the address the other nodes reach the node at (what the
	// node advertises).
	Listen string
	// Upstream is the node's own address.
	Upstream string
	// Sources names the nodes by the address they send from. Traffic from
	// an address not listed is named by the address itself, so a test
	// client can be cut like a node.
	Sources map[string]string
	// DialTimeout bounds each connection to Upstream (TCP only).
	DialTimeout time.Duration
	// MaxSessions bounds the sources a relay tracks at once (UDP only).
	MaxSessions int
}

// Validate reports a configuration that cannot be used.
func (c Config) Validate() error {
	if c.Node == "" || c.Listen == "" || c.Upstream == "" {
		return fmt.Errorf("%w: node %q, listen %q, upstream %q", ErrBadConfig, c.Node, c.Listen, c.Upstream)
	}
	for ip := range c.Sources {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("%w: source %q is not an IP address", ErrBadConfig, ip)
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = 256
	}
	return c
}

// source names the node traffic from addr comes from.
func (c Config) source(addr net.Addr) string {
	var ip net.IP
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	}
	if name, ok := c.Sources[ip.String()]; ok {
		return name
	}
	return ip.String()
}
