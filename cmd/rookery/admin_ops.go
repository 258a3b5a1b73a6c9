package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/rookery-mail/rookery/directory"
)

// adminHelp is each admin command's own --help: what it does and an
// example. `rookery admin CMD --help` prints the entries CMD starts.
var adminHelp = []struct{ cmd, args, about, example string }{
	{"status", "", "every node: roles, Raft state, leader, applied index, lag, health; and how many directory voters the cluster can lose",
		"rookery admin --config /etc/rookery/node.toml status"},
	{"mailbox list", "[PREFIX]", "mailboxes whose internal names start with PREFIX, with state and primary backend",
		"rookery admin --config node.toml mailbox list user/alice/"},
	{"mailbox show", "NAME", "one mailbox record as JSON: copies, UID slots, ACL, state",
		"rookery admin --config node.toml mailbox show user/alice/INBOX"},
	{"mailbox create", "NAME [NODE] [--backend B]", "create a mailbox on NODE's backend (default: any healthy backend), or with --backend on backend B, which must be up; the placement rules (a folder with its parent or its owner's INBOX) are not applied",
		"rookery admin --config node.toml mailbox create shared/news --backend mx2"},
	{"user add", "NAME [--hash HASH] [--admin]", "add a user and its INBOX; the password is read from stdin, or --hash gives a hash to keep as it is (bcrypt, argon2id/i, SHA-crypt, with or without Dovecot's {SCHEME}); --admin lets the user log in as others",
		"echo 's3cret-pw' | rookery admin --config node.toml user add alice"},
	{"user import", "FILE [--format passwd|csv]", "add or update users from a Dovecot passwd-file (user:{SCHEME}hash:uid:gid:...) or a CSV (name,hash[,quota]), each with its INBOX; prints a summary with refused lines; safe to run again",
		"rookery admin --config node.toml user import /etc/dovecot/users"},
	{"user admin", "NAME on|off", "let a user log in as any other user (SASL PLAIN with an authorization id), or stop it",
		"rookery admin --config node.toml user admin helpdesk on"},
	{"user passwd", "NAME", "set a user's password, read from stdin",
		"echo 'new-pw' | rookery admin --config node.toml user passwd alice"},
	{"user quota", "NAME SIZE", "set a user's storage quota (bytes, or with K, M, G, T; none removes it); delivery past it gets 552 5.2.2, APPEND and COPY get NO [OVERQUOTA]",
		"rookery admin --config node.toml user quota alice 2G"},
	{"user gather", "NAME", "move each of a user's mailboxes that is not on the backend of the user's INBOX there, one live move at a time (sessions stay); new top-level folders already go there while it is up",
		"rookery admin --config node.toml user gather alice"},
	{"user delete", "NAME", "delete a user, every grant naming it and then its mailboxes (mail included) through their backends; the name cannot be added again until they are gone; run again to finish one that was interrupted",
		"rookery admin --config node.toml user delete alice"},
	{"user list", "", "list users", "rookery admin --config node.toml --json user list"},
	{"domain add", "NAME [--default]", "serve a mail domain; the first is the default, whose users need no domain in their names (alice is alice@NAME); once any domain is added, mail to other domains gets 550 5.1.2",
		"rookery admin --config node.toml domain add example.org"},
	{"domain remove", "NAME", "stop serving a domain (refused while aliases in it remain, and for the default while others remain)",
		"rookery admin --config node.toml domain remove example.net"},
	{"domain list", "", "list the served domains and which is the default", "rookery admin --config node.toml domain list"},
	{"alias add", "ADDRESS USER", "deliver mail for ADDRESS (in a served domain) to USER's mailboxes; +detail works as for the user's own address",
		"rookery admin --config node.toml alias add postmaster@example.org alice"},
	{"alias remove", "ADDRESS", "stop delivering ADDRESS", "rookery admin --config node.toml alias remove postmaster@example.org"},
	{"alias list", "[USER]", "list aliases, or USER's", "rookery admin --config node.toml alias list alice"},
	{"failover", "BACKEND [--force]", "make replicas primary for every mailbox BACKEND holds as primary; --force also promotes replicas that are not in sync",
		"rookery admin --config node.toml failover mx3"},
	{"members join", "GOSSIP_ADDR...", "make the node gossip with the nodes at these addresses (a node that started alone)",
		"rookery admin --config node.toml members join 10.0.0.4:7002"},
	{"members remove", "ID", "remove a failed node from the Raft configuration (as remove-node)",
		"rookery admin --config node.toml members remove mx3"},
	{"remove-node", "ID", "remove a failed node from the Raft configuration",
		"rookery admin --config node.toml remove-node mx3"},
	{"bootstrap", "", "bootstrap a fresh cluster from the directory nodes alive now",
		"rookery admin --addr 10.0.0.1:7001 bootstrap"},
	{"mailbox move", "NAME BACKEND", "move a mailbox to BACKEND while it stays in use: copy, then switch the primary in one directory command; progress as it goes",
		"rookery admin --config node.toml mailbox move user/alice/INBOX mx2"},
	{"backend drain", "BACKEND", "mark BACKEND draining (no new mailboxes land there) and move each mailbox whose primary it is elsewhere, with progress",
		"rookery admin --config node.toml backend drain mx3"},
	{"backend undrain", "BACKEND", "let a drained backend take new mailboxes again",
		"rookery admin --config node.toml backend undrain mx3"},
	{"snapshot save", "FILE", "back the directory up to FILE (written whole or not at all)",
		"rookery admin --config node.toml snapshot save /backup/directory-$(date +%F).snap"},
	{"snapshot restore", "FILE --yes", "replace the directory of the whole cluster with the backup in FILE; writes made since the backup are lost",
		"rookery admin --config node.toml snapshot restore /backup/directory-2026-11-01.snap --yes"},
}

// adminCommandList is the "Commands:" part of rookery admin's usage, one
// line a command, from adminHelp.
func adminCommandList() string {
	var b strings.Builder
	for _, h := range adminHelp {
		fmt.Fprintf(&b, "  %-30s %s\n", strings.TrimSpace(h.cmd+" "+h.args), h.about)
	}
	return b.String()
}

// commandHelp prints the help of the commands args names, if args asks for
// help; it reports whether it did. Help for a command that does not exist
// is a usage error.
func (a *adminCmd) commandHelp(args []string) (bool, error) {
	if !slices.ContainsFunc(args, isHelp) {
		return false, nil
	}
	var words []string
	for _, w := range args {
		if isHelp(w) {
			break
		}
		words = append(words, w)
	}
	prefix := strings.Join(words, " ")
	found := false
	for _, h := range adminHelp {
		if prefix == "" || h.cmd == prefix || strings.HasPrefix(h.cmd, prefix+" ") || strings.HasPrefix(prefix, h.cmd+" ") {
			fmt.Fprintf(a.out, "rookery admin %s %s\n  %s\n  example: %s\n\n", h.cmd, h.args, h.about, h.example)
			found = true
		}
	}
	if !found {
		return true, usageErrorf("admin", "unknown command %q", prefix)
	}
	return true, nil
}

// optionalArgs are the bracketed parts of an adminHelp args line.
var optionalArgs = regexp.MustCompile(`\[[^\]]*\]`)

// checkAdminArgs refuses a command that does not exist, or that lacks an
// argument its adminHelp line requires, naming what is missing.
func checkAdminArgs(args []string) error {
	line := strings.Join(args, " ")
	for _, h := range adminHelp {
		if line != h.cmd && !strings.HasPrefix(line, h.cmd+" ") {
			continue
		}
		var required []string
		for _, w := range strings.Fields(optionalArgs.ReplaceAllString(h.args, "")) {
			if !strings.HasPrefix(w, "-") {
				required = append(required, w)
			}
		}
		var given int
		for _, w := range args[len(strings.Fields(h.cmd)):] {
			if !strings.HasPrefix(w, "-") {
				given++
			}
		}
		if given < len(required) {
			return usageErrorf("admin "+h.cmd, "missing %s", strings.Join(required[given:], " "))
		}
		return nil
	}
	return usageErrorf("admin", "unknown command %q", line)
}

// done reports a command's success: a line, or with --json an object.
func (a *adminCmd) done(line string, fields map[string]any) error {
	if a.json {
		if fields == nil {
			fields = map[string]any{}
		}
		fields["ok"] = true
		fields["message"] = line
		return a.printJSON(fields)
	}
	_, err := fmt.Fprintln(a.out, line)
	return err
}

// snapshotSave writes the backup to a temporary file beside path and
// renames it into place once the client has checked the whole stream, so
// path never holds half a backup.
func (a *adminCmd) snapshotSave(ctx context.Context, path string) error {
	if path == "" {
		return errors.New("snapshot save: name the file")
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".part-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	index, err := a.client.SaveSnapshot(ctx, tmp)
	if err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	st, err := tmp.Stat()
	if err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return a.done(fmt.Sprintf("saved the directory at index %d to %s (%d bytes)", index, path, st.Size()),
		map[string]any{"file": path, "index": index, "bytes": st.Size()})
}

// snapshotRestore sends the backup to the leader, found through the node
// --addr names.
func (a *adminCmd) snapshotRestore(ctx context.Context, path string, yes bool) error {
	if path == "" {
		return errors.New("snapshot restore: name the file")
	}
	if !yes {
		return errors.New("snapshot restore replaces the directory of the whole cluster, and the writes made since the backup are lost: add --yes")
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	leader, err := a.leader(ctx)
	if err != nil {
		return err
	}
	if err := leader.RestoreSnapshot(ctx, f); err != nil {
		return err
	}
	return a.done(fmt.Sprintf("restored the directory from %s", path), map[string]any{"file": path})
}

// leader is a client for the leader's cluster API.
func (a *adminCmd) leader(ctx context.Context) (*directory.Client, error) {
	members, err := a.client.ClusterStatus(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range members {
		if m.Error == "" && m.RaftState == "Leader" {
			return a.client.At(m.APIAddr), nil
		}
	}
	return nil, directory.ErrNoLeader
}

func (a *adminCmd) membersJoin(ctx context.Context, addrs []string) error {
	joined, err := a.client.JoinMembers(ctx, addrs)
	if err != nil {
		return err
	}
	return a.done(fmt.Sprintf("joined %d of %d", joined, len(addrs)), map[string]any{"joined": joined})
}
