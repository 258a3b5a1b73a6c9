package main

import (
	"bytes"
	"strings"
	"testing"
)

// runCLI runs the rookery command line in process and returns its exit
// code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestCommandHelp checks that every command's --help exits 0 and prints
// that command's own usage on stdout, not the usage of another.
func TestCommandHelp(t *testing.T) {
	t.Setenv("ROOKERY_CLUSTER_SECRET", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "rookery admin COMMAND"},
		{[]string{"dev", "--help"}, "Usage: rookery dev"},
		{[]string{"dev", "-h"}, "1 to 7"},
		{[]string{"node", "--help"}, "Usage: rookery node --config FILE"},
		{[]string{"bench", "--help"}, "Usage: rookery bench KIND"},
		{[]string{"bench", "imap", "--help"}, "--clients"},
		{[]string{"tls", "--help"}, "Usage: rookery tls COMMAND"},
		{[]string{"tls", "init", "--help"}, "Usage: rookery tls init"},
		{[]string{"tls", "issue", "--help"}, "Usage: rookery tls issue"},
		{[]string{"tls", "show", "--help"}, "Usage: rookery tls show FILE"},
		{[]string{"admin", "--help"}, "Usage: rookery admin [flags] COMMAND"},
		{[]string{"admin", "status", "--help"}, "rookery admin status \n"},
		{[]string{"admin", "snapshot", "--help"}, "rookery admin snapshot restore FILE --yes"},
		{[]string{"admin", "snapshot", "save", "--help"}, "example: rookery admin --config node.toml snapshot save"},
		{[]string{"admin", "mailbox", "move", "-h"}, "rookery admin mailbox move NAME BACKEND"},
		{[]string{"admin", "user", "add", "alice", "--help"}, "rookery admin user add NAME"},
	} {
		code, out, errOut := runCLI(t, tc.args...)
		if code != 0 || !strings.Contains(out, tc.want) || errOut != "" {
			t.Errorf("rookery %s: exit %d, stdout %q, stderr %q; want exit 0 and %q on stdout",
				strings.Join(tc.args, " "), code, out, errOut, tc.want)
		}
		if tc.args[0] == "admin" && len(tc.args) > 2 && strings.Contains(out, "Flags:") {
			t.Errorf("rookery %s printed admin's whole usage", strings.Join(tc.args, " "))
		}
	}
}

// TestCommandErrors checks that a command line that cannot run says what
// is wrong in one line on stderr, without the whole usage, and exits 2.
func TestCommandErrors(t *testing.T) {
	t.Setenv("ROOKERY_CLUSTER_SECRET", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `rookery: unknown command "frobnicate" (see rookery --help)`},
		{[]string{"admin"}, "rookery admin: name a command"},
		{[]string{"admin", "status"}, "no node to talk to: give --config FILE"},
		{[]string{"admin", "status", "--addr", "127.0.0.1:1"}, "no cluster secret: give --config FILE or set $ROOKERY_CLUSTER_SECRET"},
		{[]string{"admin", "--addr", "127.0.0.1:1", "status"}, "no cluster secret"},
		{[]string{"admin", "frobnicate"}, `rookery admin: unknown command "frobnicate"`},
		{[]string{"admin", "frobnicate", "--help"}, `rookery admin: unknown command "frobnicate"`},
		{[]string{"admin", "--bogus", "status"}, "flag provided but not defined: -bogus"},
		{[]string{"admin", "mailbox", "move", "user/alice/INBOX"}, "rookery admin mailbox move: missing BACKEND (see rookery admin mailbox move --help)"},
		{[]string{"admin", "snapshot", "save"}, "rookery admin snapshot save: missing FILE"},
		{[]string{"node"}, "rookery node: name the node's config file with --config FILE"},
		{[]string{"node", "--config"}, "flag needs an argument: -config"},
		{[]string{"dev", "--nodes", "9"}, "--nodes 9: a dev cluster has 1 to 7 nodes"},
		{[]string{"dev", "extra"}, `unexpected argument "extra"`},
		{[]string{"bench"}, "name a kind first: imap, lmtp or directory"},
		{[]string{"bench", "smtp"}, `unknown kind "smtp"`},
		{[]string{"tls"}, "rookery tls: name a command: init, issue or show"},
		{[]string{"tls", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"tls", "issue", "mx1"}, "rookery tls issue: name the node and at least one host"},
		{[]string{"tls", "show"}, "rookery tls show: name one certificate file"},
	} {
		code, out, errOut := runCLI(t, tc.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("rookery %s: exit %d, stdout %q, stderr %q; want exit 2 and one line with %q",
				strings.Join(tc.args, " "), code, out, errOut, tc.want)
		}
	}
}

// TestFlagsAfterCommand checks that admin's own flags may follow the
// command, and a command's flags stay with it.
func TestFlagsAfterCommand(t *testing.T) {
	got := strings.Join(hoistFlags(newAdminFlags().fs, []string{"status", "--addr", "h:1", "--json", "--timeout=5s"}), " ")
	if want := "--addr h:1 --json --timeout=5s status"; got != want {
		t.Errorf("hoisted %q, want %q", got, want)
	}
	got = strings.Join(hoistFlags(newAdminFlags().fs, []string{"snapshot", "restore", "f", "--yes", "--config", "c.toml"}), " ")
	if want := "--config c.toml snapshot restore f --yes"; got != want {
		t.Errorf("hoisted %q, want %q", got, want)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "rookery ") || !strings.Contains(out, "commit ") || !strings.Contains(out, "go1.") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}
