package netns

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The tests run parts of themselves inside the namespaces: the test binary
// started with helperEnv set does one job and exits, instead of testing.
const helperEnv = "ROOKERY_NETNS_TEST_HELPER"

func TestMain(m *testing.M) {
	if job := os.Getenv(helperEnv); job != "" {
		os.Exit(helper(strings.Fields(job)))
	}
	os.Exit(m.Run())
}

// helper runs one job:
//
//	serve ADDR  echo every TCP connection on ADDR; print "ready" once listening
//	dial ADDR   connect to ADDR within 1.5 s; print ok, timeout or the error
//	hold ADDR   connect to ADDR, then for each line on stdin (a duration)
//	            send a byte and print ok if an echo comes back within it
//	crash       build a two-node network, print its names, then panic
func helper(job []string) int {
	switch job[0] {
	case "serve":
		return serve(job[1])
	case "dial":
		conn, err := net.DialTimeout("tcp", job[1], 1500*time.Millisecond)
		fmt.Println(outcome(err))
		if err == nil {
			conn.Close()
		}
		return 0
	case "hold":
		return hold(job[1])
	case "crash":
		return crash()
	}
	return 3
}

func outcome(err error) string {
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return "timeout"
	}
	if err != nil {
		return err.Error()
	}
	return "ok"
}

func serve(addr string) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println("ready")
	for {
		conn, err := ln.Accept()
		if err != nil {
			return 1
		}
		go func() {
			defer conn.Close()
			io.Copy(conn, conn)
		}()
	}
}

func hold(addr string) int {
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	lines := bufio.NewScanner(os.Stdin)
	buf := make([]byte, 64)
	for lines.Scan() {
		d, _ := time.ParseDuration(lines.Text())
		conn.Write([]byte("x"))
		conn.SetReadDeadline(time.Now().Add(d))
		_, err := conn.Read(buf)
		fmt.Println(outcome(err))
	}
	return 0
}

func crash() int {
	n, err := Create(context.Background(), Config{Nodes: 2})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println(strings.Join(append(n.namespaces(), n.id.hostLink()), " "))
	go func() { panic("a goroutine of the harness panics") }()
	select {}
}

// requireNetns skips a test, saying why, when namespaces cannot be made.
func requireNetns(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("needs root and iproute2: %v", err)
	}
}

// helperCmd is the test binary as a helper doing job.
func helperCmd(t *testing.T, cmd *exec.Cmd, job string) *exec.Cmd {
	t.Helper()
	cmd.Env = append(os.Environ(), helperEnv+"="+job)
	return cmd
}

func selfPath(t *testing.T) string {
	t.Helper()
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startServer runs an echo server in node i's namespace on its address and
// waits until it listens; the test kills it (by PID) at its end.
func startServer(t *testing.T, n *Network, i int, port int) string {
	t.Helper()
	addr := net.JoinHostPort(n.Nodes[i].IP.String(), fmt.Sprint(port))
	cmd := helperCmd(t, n.Command(i, selfPath(t), "-test.run=^$"), "serve "+addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- strings.TrimSpace(line)
	}()
	select {
	case line := <-ready:
		if line != "ready" {
			t.Fatalf("server in %s: %q", n.Nodes[i].Namespace, line)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("server in %s never listened", n.Nodes[i].Namespace)
	}
	return addr
}

// dialFrom connects from inside node i's namespace to addr and says how it went.
func dialFrom(t *testing.T, n *Network, i int, addr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := n.Command(i, selfPath(t), "-test.run=^$")
	cmd = helperCmd(t, exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...), "dial "+addr)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dial helper in %s: %v", n.Nodes[i].Namespace, err)
	}
	return strings.TrimSpace(string(out))
}
