package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// asUserEnv makes the test binary run the command line it holds (fields
// separated by spaces) instead of the tests, and exit with its status.
const asUserEnv = "ROOKERY_JEPSEN_TEST_RUN"

func TestMain(m *testing.M) {
	if line := os.Getenv(asUserEnv); line != "" {
		os.Exit(run(strings.Fields(line), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestNetnsRefusedWithoutRoot: --net netns as an ordinary user stops before
// anything is built, saying why, with the unknown verdict's status. As
// root, the test runs the command as the user nobody.
func TestNetnsRefusedWithoutRoot(t *testing.T) {
	store := t.TempDir()
	args := "run --net netns --nodes 3 --time-limit 5s --rookery /nonexistent --store " + store
	var code int
	var stderr string
	if os.Geteuid() != 0 {
		var out, errOut bytes.Buffer
		code, stderr = run(strings.Fields(args), &out, &errOut), errOut.String()
	} else {
		self := copyForNobody(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, self, "-test.run=^$")
		cmd.Env = append(os.Environ(), asUserEnv+"="+args)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var errOut bytes.Buffer
		cmd.Stderr = &errOut
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
			code = 0
		case errors.As(err, &exit):
			code = exit.ExitCode()
		default:
			t.Skipf("cannot run the test binary as nobody: %v", err)
		}
		stderr = errOut.String()
	}
	if code != exitUnknown || !strings.Contains(stderr, "needs root") {
		t.Fatalf("exit %d, stderr %q; want %d and the reason", code, stderr, exitUnknown)
	}
	if entries, _ := os.ReadDir(store); len(entries) != 0 {
		t.Fatalf("a refused run left %d entries in the store", len(entries))
	}
	t.Logf("refused with exit %d: %s", code, strings.TrimSpace(stderr))
}

// copyForNobody copies the test binary where the user nobody may run it:
// the build directory is its owner's alone.
func copyForNobody(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "rookery-jepsen-nobody")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "rookery-jepsen.test")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}
