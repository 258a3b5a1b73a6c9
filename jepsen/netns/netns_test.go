package netns

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseRunID(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   runID
		pid  int
		ok   bool
	}{
		{"rkj-1f2e-00ab-n1", "1f2e-00ab", 0x1f2e, true},
		{"rkj-1f2e-00ab-hub", "1f2e-00ab", 0x1f2e, true},
		{"rkj-1f2e-00ab", "1f2e-00ab", 0x1f2e, true},
		{"rkj-zz-00ab-n1", "", 0, false},
		{"rkj-1f2e-ab-n1", "", 0, false},
		{"rkjp-1f2e-00ab", "", 0, false},
		{"eth0", "", 0, false},
	} {
		id, pid, ok := parseRunID(tc.name)
		if id != tc.id || pid != tc.pid || ok != tc.ok {
			t.Errorf("parseRunID(%q) = %q, %d, %v; want %q, %d, %v", tc.name, id, pid, ok, tc.id, tc.pid, tc.ok)
		}
	}
	id := newRunID()
	if got, pid, ok := parseRunID(id.node(8)); !ok || got != id || pid != os.Getpid() {
		t.Errorf("parseRunID(%q) = %q, %d, %v", id.node(8), got, pid, ok)
	}
	if len(id.hostLink()) > 15 {
		t.Errorf("host link name %q is longer than an interface name may be", id.hostLink())
	}
}

// TestPartitionDropsPackets builds the namespaces of three nodes, checks
// that every node and the harness reach every node, cuts one link one way,
// then isolates a node both ways, heals, and removes the network: a cut
// link loses packets (dials time out, an open connection stalls and
// delivers after healing) while the harness's own traffic still flows.
func TestPartitionDropsPackets(t *testing.T) {
	requireNetns(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	n, err := Create(ctx, Config{Nodes: 3})
	if err != nil {
		t.Fatal(err)
	}
	names := append(n.namespaces(), n.id.hostLink())
	defer n.Close()
	addrs := make([]string, 3)
	for i := range addrs {
		addrs[i] = startServer(t, n, i, 7000)
	}

	expect := func(what string, from, to int, want string) {
		t.Helper()
		if got := dialFrom(t, n, from, addrs[to]); got != want {
			t.Fatalf("%s: n%d dialing n%d: %s, want %s", what, from+1, to+1, got, want)
		}
	}
	fromHarness := func(what string) {
		t.Helper()
		for i, a := range addrs {
			conn, err := net.DialTimeout("tcp", a, 5*time.Second)
			if err != nil {
				t.Fatalf("%s: the harness cannot reach n%d: %v", what, i+1, err)
			}
			conn.Close()
		}
	}
	fromHarness("whole")
	for from := range 3 {
		for to := range 3 {
			if from != to {
				expect("whole", from, to, "ok")
			}
		}
	}
	held := holdConn(t, n, 0, addrs[1])
	if got := held("5s"); got != "ok" {
		t.Fatalf("open connection n1 to n2 before any cut: %s", got)
	}

	// n2 stops hearing n1: n1's SYN to n2 is lost, and so is its SYN-ACK
	// to n2; n3 is untouched.
	if err := n.Partition(ctx, []Link{{From: 0, To: 1}}); err != nil {
		t.Fatal(err)
	}
	if cuts, err := n.Cuts(ctx); err != nil || !slices.Equal(cuts, []Link{{From: 0, To: 1}}) {
		t.Fatalf("cuts in the kernel = %v, %v", cuts, err)
	}
	expect("n1->n2 cut", 0, 1, "timeout")
	expect("n1->n2 cut", 1, 0, "timeout")
	expect("n1->n2 cut", 2, 1, "ok")
	expect("n1->n2 cut", 0, 2, "ok")
	if got := held("1s"); got != "timeout" {
		t.Fatalf("open connection n1 to n2 across the cut: %s, want timeout", got)
	}
	fromHarness("n1->n2 cut")

	// Isolate n3 both ways; the previous cut is gone.
	iso := []Link{{From: 0, To: 2}, {From: 1, To: 2}, {From: 2, To: 0}, {From: 2, To: 1}}
	if err := n.Partition(ctx, iso); err != nil {
		t.Fatal(err)
	}
	expect("n3 isolated", 0, 2, "timeout")
	expect("n3 isolated", 2, 1, "timeout")
	expect("n3 isolated", 1, 0, "ok")
	fromHarness("n3 isolated")

	if err := n.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	expect("healed", 0, 2, "ok")
	expect("healed", 2, 1, "ok")
	if got := held("30s"); got != "ok" {
		t.Fatalf("open connection n1 to n2 after healing: %s, want the held bytes delivered", got)
	}

	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, names, 0)
}

// holdConn opens a connection from node i's namespace to addr and returns
// a function that sends a byte and says whether the echo came within d.
func holdConn(t *testing.T, n *Network, i int, addr string) func(d string) string {
	t.Helper()
	cmd := helperCmd(t, n.Command(i, selfPath(t), "-test.run=^$"), "hold "+addr)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewReader(out)
	return func(d string) string {
		t.Helper()
		fmt.Fprintln(in, d)
		line, err := lines.ReadString('\n')
		if err != nil {
			t.Fatalf("hold helper: %v", err)
		}
		return strings.TrimSpace(line)
	}
}

// assertGone waits up to wait for none of names to show in `ip netns list`
// or among the host's interfaces.
func assertGone(t *testing.T, names []string, wait time.Duration) {
	t.Helper()
	ip, err := ipPath()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	for {
		nss, err := namespaces(context.Background(), ip)
		if err != nil {
			t.Fatal(err)
		}
		ifs, err := links(context.Background(), ip, "")
		if err != nil {
			t.Fatal(err)
		}
		var left []string
		for _, name := range names {
			if slices.Contains(nss, name) || slices.Contains(ifs, name) {
				left = append(left, name)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still present: %v (ip netns list: %v)", left, nss)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestWatchdogRemovesAfterPanic runs a harness that builds a network and
// then dies of a panic in one of its goroutines, where no deferred cleanup
// runs: the watchdog must remove the namespaces and the host's interface.
func TestWatchdogRemovesAfterPanic(t *testing.T) {
	requireNetns(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := helperCmd(t, exec.CommandContext(ctx, selfPath(t), "-test.run=^$"), "crash")
	out, err := cmd.Output()
	if err == nil {
		t.Fatalf("the crashing harness exited 0: %s", out)
	}
	names := strings.Fields(string(out))
	if len(names) != 4 || !strings.HasPrefix(names[0], Prefix) {
		t.Fatalf("crashing harness printed %q (%v)", out, err)
	}
	assertGone(t, names, 30*time.Second)
}

// TestRemoveLeftovers: namespaces whose harness is gone are removed, those
// of a harness still running are not, unless all are asked for.
func TestRemoveLeftovers(t *testing.T) {
	requireNetns(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ip, _ := ipPath()
	dead := deadPID(t)
	stale := fmt.Sprintf("%s%x-beef-n1", Prefix, dead)
	live := fmt.Sprintf("%s%x-cafe-n1", Prefix, os.Getpid())
	for _, ns := range []string{stale, live} {
		if _, err := ipRun(ctx, ip, "", "netns", "add", ns); err != nil {
			t.Fatal(err)
		}
		defer ipRun(context.Background(), ip, "", "netns", "del", ns)
	}
	removed, err := RemoveLeftovers(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(removed, stale) || slices.Contains(removed, live) {
		t.Fatalf("removed %v; want %s and not %s", removed, stale, live)
	}
	assertGone(t, []string{stale}, 0)
	nss, _ := namespaces(ctx, ip)
	if !slices.Contains(nss, live) {
		t.Fatalf("%s of a running harness was removed", live)
	}
	ipRun(ctx, ip, "", "netns", "del", live)
}

// deadPID finds a PID no process has.
func deadPID(t *testing.T) int {
	t.Helper()
	for pid := 0x3ffff0; pid > 0x300000; pid-- {
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			return pid
		}
	}
	t.Fatal("no free PID found")
	return 0
}
