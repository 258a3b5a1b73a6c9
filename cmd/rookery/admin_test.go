package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rookery-mail/rookery/fsm"
)

// TestAdminAgainstTLSCluster drives `rookery admin` as an operator would,
// against a cluster with node TLS: a certificate is needed, --json gives
// JSON for each command, each command has its own --help, and a directory
// backup restores a deleted user.
func TestAdminAgainstTLSCluster(t *testing.T) {
	c := startTLSCluster(t)
	t.Setenv("ROOKERY_CLUSTER_SECRET", c.cfgs[0].ClusterSecret)
	base := []string{"--addr", c.cfgs[1].Directory.APIAddr, "--timeout", "1m"}
	admin := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := runAdmin(append(append([]string{}, base...), args...), &out, &errOut)
		return out.String() + errOut.String(), err
	}

	if out, err := admin("status"); err == nil || !strings.Contains(err.Error(), "--tls-dir") {
		t.Fatalf("status without a certificate: %v\n%s", err, out)
	}
	base = append(base, "--tls-dir", c.cfgs[2].TLS.NodeDir)
	out, err := admin("--json", "status")
	if err != nil {
		t.Fatal(err)
	}
	var members []map[string]any
	if err := json.Unmarshal([]byte(out), &members); err != nil || len(members) != 3 {
		t.Fatalf("status --json: %d members, %v\n%s", len(members), err, out)
	}
	for _, m := range members {
		q, _ := m["quorum"].(map[string]any)
		if m["health"] != "ok" || m["lag"] == nil || q["voters"] != 3.0 || q["healthy_voters"] != 3.0 {
			t.Fatalf("status --json lacks health, lag or the quorum summary: %v", m)
		}
	}
	out, err = admin("snapshot", "--help")
	if err != nil || !strings.Contains(out, "snapshot save FILE") || !strings.Contains(out, "example: rookery admin") {
		t.Fatalf("snapshot --help: %v\n%s", err, out)
	}

	// A live move over the cluster's mutual TLS, then a drain of the
	// backend it moved to.
	inbox := fsm.Inbox(devUser)
	if out, err := admin("mailbox", "move", inbox, "node2"); err != nil {
		t.Fatalf("mailbox move: %v\n%s", err, out)
	}
	primaryIs := func(want func(string) bool) func() bool {
		return func() bool {
			mb, ok := localView(t, c.nodes[0]).Mailbox(inbox)
			return ok && mb.State == fsm.Active && want(mb.Primary.Backend)
		}
	}
	waitUntil(t, "the INBOX on node2", primaryIs(func(b string) bool { return b == "node2" }))
	// A move to where the mailbox is says so, in words, not in Go type
	// names; with --json the error is JSON too.
	if out, err := admin("mailbox", "move", inbox, "node2"); err == nil || err.Error() != inbox+" is already on node2: nothing to move" {
		t.Fatalf("move to the backend it is on: %v\n%s", err, out)
	}
	out, err = admin("--json", "mailbox", "move", inbox, "node2")
	var refused struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err == nil || json.Unmarshal([]byte(out), &refused) != nil || refused.OK || !strings.Contains(refused.Error, "already on node2") {
		t.Fatalf("move --json to the backend it is on: %v\n%s", err, out)
	}
	if out, err := admin("backend", "drain", "node2"); err != nil {
		t.Fatalf("backend drain: %v\n%s", err, out)
	}
	waitUntil(t, "the INBOX off node2", primaryIs(func(b string) bool { return b != "node2" }))
	if b, _ := localView(t, c.nodes[0]).Backend("node2"); b == nil || b.State != fsm.BackendDraining {
		t.Fatalf("node2 after the drain: %+v", b)
	}
	if out, err := admin("backend", "undrain", "node2"); err != nil {
		t.Fatalf("backend undrain: %v\n%s", err, out)
	}

	if out, err := admin("user", "quota", devUser, "2M"); err != nil {
		t.Fatalf("user quota: %v\n%s", err, out)
	}
	waitUntil(t, "the quota of 2M on every node", func() bool {
		for _, n := range c.nodes {
			if u, ok := localView(t, n).User(devUser); !ok || u.QuotaBytes != 2<<20 {
				return false
			}
		}
		return true
	})
	if out, err := admin("user", "quota", devUser, "lots"); err == nil {
		t.Fatalf("user quota lots: accepted\n%s", out)
	}

	backup := filepath.Join(t.TempDir(), "dir.snap")
	out, err = admin("--json", "snapshot", "save", backup)
	if err != nil {
		t.Fatalf("snapshot save: %v\n%s", err, out)
	}
	var saved struct {
		OK    bool   `json:"ok"`
		Index uint64 `json:"index"`
		Bytes int64  `json:"bytes"`
	}
	if err := json.Unmarshal([]byte(out), &saved); err != nil || !saved.OK || saved.Index == 0 {
		t.Fatalf("snapshot save --json: %+v, %v\n%s", saved, err, out)
	}
	if st, err := os.Stat(backup); err != nil || st.Size() != saved.Bytes {
		t.Fatalf("backup file: %v, %v bytes, reported %d", err, st, saved.Bytes)
	}

	if out, err := admin("user", "delete", devUser); err != nil {
		t.Fatalf("user delete: %v\n%s", err, out)
	}
	if out, err := admin("snapshot", "restore", backup); err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("restore without --yes: %v\n%s", err, out)
	}
	waitUntil(t, "the user deleted everywhere", func() bool {
		for _, n := range c.nodes {
			if _, ok := localView(t, n).User(devUser); ok {
				return false
			}
		}
		return true
	})
	waitUntil(t, "the user's mailboxes deleted everywhere", func() bool {
		for _, n := range c.nodes {
			if _, ok := localView(t, n).Mailbox(fsm.Inbox(devUser)); ok {
				return false
			}
		}
		return true
	})
	if out, err := admin("snapshot", "restore", backup, "--yes"); err != nil {
		t.Fatalf("snapshot restore: %v\n%s", err, out)
	}
	for _, n := range c.nodes {
		waitUntil(t, n.Config().NodeID+" has the demo user back", func() bool {
			_, ok := localView(t, n).User(devUser)
			_, inbox := localView(t, n).Mailbox(fsm.Inbox(devUser))
			return ok && inbox
		})
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "none": 0, "1234": 1234, "2K": 2048, "5m": 5 << 20, "2G": 2 << 30, "1T": 1 << 40} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "-1", "1.5G", "lots", "9999999999T"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}
