package netns

import (
	"fmt"
	"io"
	"os/exec"
	"syscall"
)

// watchdogScript waits for its stdin to close, which happens when the
// harness closes the network or dies in any way (a panic in any goroutine,
// SIGKILL), and then removes the run's host interface and namespaces. After
// a normal Close everything is already gone and the commands do nothing.
const watchdogScript = `read -r _
ip=$1; link=$2; shift 2
"$ip" link del "$link" 2>/dev/null
for ns in "$@"; do "$ip" netns del "$ns" 2>/dev/null; done
exit 0`

// watchdog is a shell process that outlives the harness only to clean up
// after it.
type watchdog struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

func startWatchdog(ip, hostLink string, namespaces []string) (*watchdog, error) {
	args := append([]string{"-c", watchdogScript, "rkj-watchdog", ip, hostLink}, namespaces...)
	cmd := exec.Command("/bin/sh", args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	// Its own process group: a Ctrl-C at the terminal stops the harness,
	// not the cleanup after it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("netns: start cleanup watchdog: %w", err)
	}
	return &watchdog{cmd: cmd, stdin: stdin}, nil
}

// release lets the watchdog run its (by now idle) cleanup and waits for it.
func (w *watchdog) release() error {
	w.stdin.Close()
	return w.cmd.Wait()
}
