package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rookery-mail/rookery/jepsen/netns"
)

// Node is one rookery process of the cluster, which it may kill, pause and
// restart with the same config and data directory.
type Node struct {
	Index int
	Name  string // n1, n2, ...
	IP    string
	Real  Addrs // what the node binds
	Proxy Addrs // what it advertises and clients use

	bin     string
	env     []string
	net     *netns.Network // runs inside its namespace of net when set
	dir     string         // its directory in the results: config, log, data
	config  string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd has exited
	paused bool
}

// writeConfig writes the node's TOML config.
func (n *Node) writeConfig(secret string, join []string, voters int) error {
	quoted := make([]string, len(join))
	for i, j := range join {
		quoted[i] = fmt.Sprintf("%q", j)
	}
	cfg := fmt.Sprintf(`node_id = %q
data_dir = %q
roles = ["directory", "backend", "frontend"]
cluster_secret = %q
log_level = "info"
source_ip = %q

[directory]
raft_addr = %q
api_addr = %q
gossip_addr = %q
raft_advertise = %q
api_advertise = %q
gossip_advertise = %q
join = [%s]
bootstrap_expect = %d
reconcile_interval = "2s"

[backend]
id = %q
imap_addr = %q
lmtp_addr = %q
imap_advertise = %q
lmtp_advertise = %q

[frontend]
imap_addr = %q
lmtp_addr = %q
allow_plaintext_login = true
`, n.Name, filepath.Join(n.dir, "data"), secret, n.IP,
		n.Real.Raft, n.Real.API, n.Real.Gossip, n.Proxy.Raft, n.Proxy.API, n.Proxy.Gossip,
		strings.Join(quoted, ", "), voters,
		n.Name, n.Real.BackendIMAP, n.Real.BackendLMTP, n.Proxy.BackendIMAP, n.Proxy.BackendLMTP,
		n.Real.IMAP, n.Real.LMTP)
	return os.WriteFile(n.config, []byte(cfg), 0o600)
}

// start runs the node's process, its output appended to its log.
func (n *Node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		select {
		case <-n.done:
		default:
			return nil // already running
		}
	}
	log, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "=== %s: starting %s\n", time.Now().Format(time.RFC3339Nano), n.Name)
	cmd := exec.Command(n.bin, "node", "--config", n.config)
	if n.net != nil {
		cmd = n.net.Command(n.Index, n.bin, "node", "--config", n.config)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), n.env...)
	// The node dies with the harness, whatever ends the harness.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("cluster: start %s: %w", n.Name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		log.Close()
		close(done)
	}()
	n.cmd, n.done, n.paused = cmd, done, false
	return nil
}

// running returns the process and its exit channel, or ErrNotRunning.
func (n *Node) running() (*exec.Cmd, chan struct{}, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return nil, nil, fmt.Errorf("%w: %s", ErrNotRunning, n.Name)
	}
	select {
	case <-n.done:
		return nil, nil, fmt.Errorf("%w: %s", ErrNotRunning, n.Name)
	default:
		return n.cmd, n.done, nil
	}
}

// signal sends sig to the node's process, by its PID.
func (n *Node) signal(sig syscall.Signal) error {
	cmd, _, err := n.running()
	if err != nil {
		return err
	}
	return cmd.Process.Signal(sig)
}

// kill stops the process with SIGKILL and waits for it to be gone.
func (n *Node) kill() error {
	cmd, done, err := n.running()
	if err != nil {
		return err
	}
	if err := cmd.Process.Kill(); err != nil {
		return err
	}
	<-done
	return nil
}

// stop asks the process to stop (SIGTERM, after SIGCONT if paused), and
// kills it after grace.
func (n *Node) stop(grace time.Duration) error {
	cmd, done, err := n.running()
	if err != nil {
		return nil
	}
	cmd.Process.Signal(syscall.SIGCONT)
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(grace):
	}
	cmd.Process.Kill()
	<-done
	return fmt.Errorf("cluster: %s did not stop within %v; killed", n.Name, grace)
}

// Paused reports whether the harness has stopped the process with SIGSTOP.
func (n *Node) Paused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused
}

func (n *Node) setPaused(p bool) {
	n.mu.Lock()
	n.paused = p
	n.mu.Unlock()
}

// Running reports whether the node's process is alive (paused or not).
func (n *Node) Running() bool {
	_, _, err := n.running()
	return err == nil
}
