// Command rookery runs a Rookery node, administers a cluster, and brings up
// a development cluster on this machine.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
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

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

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
		if faults.Enabled {
			fmt.Fprintln(stdout, "rookery", version, "(built with -tags faults: for the jepsen harness only)")
		} else {
			fmt.Fprintln(stdout, "rookery", version)
		}
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "rookery: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if err == errUsage {
			return 2
		}
		fmt.Fprintln(stderr, "rookery:", err)
		return 1
	}
	return 0
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
