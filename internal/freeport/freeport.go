// Package freeport picks listen ports for servers a test or the jepsen
// harness starts and binds later. It picks from below the kernel's range
// of source ports (net.ipv4.ip_local_port_range): a port chosen there
// cannot be taken, between the choice and the bind, as the source port of
// an outgoing connection. One process never gets the same port twice.
package freeport

import (
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// floor is the lowest port picked: below it lie well-known services.
const floor = 10000

// ErrNone: no free port was found.
var ErrNone = errors.New("freeport: no free port")

var given struct {
	sync.Mutex
	ports map[int]bool
}

// ephemeralLow is where the source port range starts, 32768 if it cannot
// be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > floor+1000 {
				return n
			}
		}
	}
	return 32768
}

// Pick returns host:port with a port free for TCP now (and for UDP too,
// with udp), never one this process was given before.
func Pick(host string, udp bool) (string, error) {
	given.Lock()
	defer given.Unlock()
	if given.ports == nil {
		given.ports = make(map[int]bool)
	}
	low := ephemeralLow()
	for range 1000 {
		port := floor + rand.IntN(low-floor)
		if given.ports[port] {
			continue
		}
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ok := true
		if udp {
			pc, err := net.ListenPacket("udp", addr)
			if err == nil {
				pc.Close()
			}
			ok = err == nil
		}
		ln.Close()
		if ok {
			given.ports[port] = true
			return addr, nil
		}
	}
	return "", ErrNone
}
