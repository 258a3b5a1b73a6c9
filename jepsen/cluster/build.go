package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// Build compiles ./cmd/rookery of the module the working directory is in
// into dir and returns the binary's path.
func Build(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("cluster: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == "/dev/null" {
		return "", fmt.Errorf("%w: not inside the rookery module; pass the binary instead", ErrBadConfig)
	}
	bin := filepath.Join(dir, "rookery")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/rookery")
	cmd.Dir = filepath.Dir(gomod)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("cluster: go build ./cmd/rookery: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return bin, nil
}
