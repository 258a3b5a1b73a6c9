package netns

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// commandTimeout bounds every ip command: they talk to the kernel only.
const commandTimeout = 10 * time.Second

// ipPath finds iproute2's ip: on PATH, or where distributions put it when
// PATH lacks the sbin directories.
func ipPath() (string, error) {
	if p, err := exec.LookPath("ip"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: iproute2's ip is not installed (apt-get install iproute2)", ErrUnavailable)
}

// Available says why this process cannot make namespaces, or nil.
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: --net netns needs root (running as uid %d); use --net proxy", ErrUnavailable, os.Geteuid())
	}
	ip, err := ipPath()
	if err != nil {
		return err
	}
	if _, err := ipRun(context.Background(), ip, "", "netns", "list"); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// ipRun runs ip with args, in namespace ns when it is not empty, and
// returns its output.
func ipRun(ctx context.Context, ip, ns string, args ...string) ([]byte, error) {
	return ipStdin(ctx, ip, ns, "", args...)
}

// ipBatch runs several ip commands in namespace ns (the harness's own when
// empty) with one process; it stops at the first that fails.
func ipBatch(ctx context.Context, ip, ns string, lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	_, err := ipStdin(ctx, ip, ns, strings.Join(lines, "\n")+"\n", "-batch", "-")
	return err
}

func ipStdin(ctx context.Context, ip, ns, stdin string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	cmd := exec.CommandContext(ctx, ip, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		what := strings.Join(args, " ")
		if stdin != "" {
			what += " <<" + strings.ReplaceAll(strings.TrimSpace(stdin), "\n", "; ")
		}
		return nil, fmt.Errorf("%w: ip %s: %v: %s", ErrCommand, what, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}

// namespaces lists the names of the host's named network namespaces.
func namespaces(ctx context.Context, ip string) ([]string, error) {
	out, err := ipRun(ctx, ip, "", "-j", "netns", "list")
	if err != nil {
		return nil, err
	}
	var list []struct{ Name string }
	if err := decodeJSON(out, &list); err != nil {
		return nil, fmt.Errorf("netns: ip netns list: %w", err)
	}
	names := make([]string, len(list))
	for i, l := range list {
		names[i] = l.Name
	}
	return names, nil
}

// links lists the interface names in namespace ns (the harness's when empty).
func links(ctx context.Context, ip, ns string) ([]string, error) {
	out, err := ipRun(ctx, ip, ns, "-j", "link", "show")
	if err != nil {
		return nil, err
	}
	var list []struct{ Ifname string }
	if err := decodeJSON(out, &list); err != nil {
		return nil, fmt.Errorf("netns: ip link show: %w", err)
	}
	names := make([]string, len(list))
	for i, l := range list {
		names[i] = l.Ifname
	}
	return names, nil
}

// decodeJSON reads ip's JSON output, which is empty rather than [] when
// some versions have nothing to list.
func decodeJSON(out []byte, v any) error {
	if len(bytes.TrimSpace(out)) == 0 {
		return nil
	}
	return json.Unmarshal(out, v)
}
