// Command rookery runs a Rookery node, administers a cluster, and brings up
// a development cluster on this machine.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/rookery-mail/rookery/internal/faults"
)

const usage = `rookery: a mail cluster

Usage:
  rookery dev [flags]            run a 3-node cluster on this machine and print how to connect
  rookery node --config FILE     run one node of a cluster
  rookery admin COMMAND [flags]  administer a cluster through any node's cluster API
  rookery bench KIND [flags]     load an IMAP or LMTP server and report throughput and latency
  rookery tls COMMAND [flags]    make the cluster CA, node certificates and the gossip key
  rookery version                print the version

Run "rookery COMMAND --help" for a command's flags and examples.
`

// version is set at build time with -ldflags "-X main.version=..."; left
// at "", the module version the binary was built from is printed.
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "dev":
		err = runDev(args[1:], stdout, stderr)
	case "node":
		err = runNode(args[1:], stdout, stderr)
	case "admin":
		err = runAdmin(args[1:], stdout, stderr)
	case "bench":
		err = runBench(args[1:], stdout, stderr)
	case "tls":
		err = runTLS(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, versionLine())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		err = usageErrorf("", "unknown command %q", args[0])
	}
	return exitCode(err, stderr)
}

// exitCode prints err, if it is one to print, in one line and returns the
// process's exit code: 0 for none or help printed, 2 for a command line
// that cannot run, 1 for a command that failed.
func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.Is(err, errReported):
		return 1
	case errors.As(err, &ue):
		cmd := strings.TrimSpace("rookery " + ue.cmd)
		fmt.Fprintf(stderr, "%s: %s (see %s --help)\n", cmd, ue.msg, cmd)
		return 2
	default:
		fmt.Fprintln(stderr, "rookery:", err)
		return 1
	}
}

// versionLine is what `rookery version` prints: the version, the commit
// it was built from and the Go version, from the build information.
func versionLine() string {
	v, commit, goVersion := version, "", runtime.Version()
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = info.Main.Version
		}
		var modified bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if len(commit) > 12 {
			commit = commit[:12]
		}
		if commit != "" && modified {
			commit += "+modified"
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if commit == "" {
		commit = "unknown"
	}
	line := fmt.Sprintf("rookery %s (commit %s, %s)", v, commit, goVersion)
	if faults.Enabled {
		line += " (built with -tags faults: for the jepsen harness only)"
	}
	return line
}

// newLogger builds the one *slog.Logger a process passes to every component.
func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lv = slog.LevelDebug
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
