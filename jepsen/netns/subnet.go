package netns

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
)

// A run takes one 10.213.k.0/24: the host's side of the link into the hub
// is .1, node i is .(11+i), as on loopback.
const (
	subnetBase = "10.213.%d.0/24"
	hostOctet  = 1
	nodeOctet  = 11
)

// lockSubnets serialises choosing a subnet and claiming it with the host's
// address among harnesses on one host, so that two runs starting together
// never pick the same one. The returned function releases the lock.
func lockSubnets() (func(), error) {
	dir := "/run/lock"
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		dir = os.TempDir()
	}
	f, err := os.OpenFile(filepath.Join(dir, "rookery-jepsen-netns.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("netns: subnet lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("netns: subnet lock: %w", err)
	}
	return func() { f.Close() }, nil
}

// freeSubnet picks a 10.213.k.0/24 that no address or route of the host's
// namespace overlaps, starting from a random k.
func freeSubnet(ctx context.Context, ip string) (netip.Prefix, error) {
	used, err := hostPrefixes(ctx, ip)
	if err != nil {
		return netip.Prefix{}, err
	}
	start := 1 + rand.IntN(254)
	for j := range 254 {
		k := 1 + (start+j-1)%254
		cand := netip.MustParsePrefix(fmt.Sprintf(subnetBase, k))
		if !overlapsAny(cand, used) {
			return cand, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("%w: every 10.213.k.0/24 is in use", ErrNoSubnet)
}

// overlapsAny ignores prefixes wider than /16 (a default route, a 10/8 on
// the uplink): the run's more specific /24 wins over them.
func overlapsAny(p netip.Prefix, used []netip.Prefix) bool {
	for _, u := range used {
		if u.Bits() >= 16 && u.Overlaps(p) {
			return true
		}
	}
	return false
}

// hostPrefixes lists the IPv4 addresses and routes of the host's namespace.
func hostPrefixes(ctx context.Context, ip string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	addrs, err := ipRun(ctx, ip, "", "-j", "-4", "addr", "show")
	if err != nil {
		return nil, err
	}
	var ifs []struct {
		AddrInfo []struct {
			Local     string
			Prefixlen int
		} `json:"addr_info"`
	}
	if err := decodeJSON(addrs, &ifs); err != nil {
		return nil, fmt.Errorf("netns: ip addr show: %w", err)
	}
	for _, i := range ifs {
		for _, a := range i.AddrInfo {
			if p, err := netip.ParsePrefix(fmt.Sprintf("%s/%d", a.Local, a.Prefixlen)); err == nil {
				out = append(out, p.Masked())
			}
		}
	}
	routes, err := ipRun(ctx, ip, "", "-j", "-4", "route", "show", "table", "all")
	if err != nil {
		return nil, err
	}
	var rs []struct{ Dst string }
	if err := decodeJSON(routes, &rs); err != nil {
		return nil, fmt.Errorf("netns: ip route show: %w", err)
	}
	for _, r := range rs {
		if p, err := netip.ParsePrefix(r.Dst); err == nil {
			out = append(out, p)
		} else if a, err := netip.ParseAddr(r.Dst); err == nil {
			out = append(out, netip.PrefixFrom(a, 32))
		}
	}
	return out, nil
}

// hostAddr and nodeAddr are the addresses a run uses in its subnet.
func hostAddr(p netip.Prefix) netip.Addr { return octet(p, hostOctet) }

func nodeAddr(p netip.Prefix, i int) netip.Addr { return octet(p, nodeOctet+i) }

func octet(p netip.Prefix, last int) netip.Addr {
	b := p.Addr().As4()
	b[3] = byte(last)
	return netip.AddrFrom4(b)
}
