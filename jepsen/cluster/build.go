package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// FaultsTag is the build tag of a rookery binary with the fault switches
// (internal/faults); a binary built without it carries none.
const FaultsTag = "faults"

// Build compiles ./cmd/rookery of the module the working directory is in
// into dir, with the build tags given, and returns the binary's path.
func Build(ctx context.Context, dir string, tags ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("cluster: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == "/dev/null" {
		return "", fmt.Errorf("%w: not inside the rookery module; pass the binary instead", ErrBadConfig)
	}
	bin := filepath.Join(dir, "rookery")
	args := []string{"build", "-o", bin}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/rookery")...)
	cmd.Dir = filepath.Dir(gomod)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("cluster: go build ./cmd/rookery: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return bin, nil
}

// HasFaults reports whether the rookery binary bin was built with
// FaultsTag, as its version line says.
func HasFaults(ctx context.Context, bin string) (bool, error) {
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		return false, fmt.Errorf("cluster: %s version: %w", bin, err)
	}
	return strings.Contains(string(out), "-tags "+FaultsTag), nil
}
