package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/rookery-mail/rookery/internal/clusterapi"
	"github.com/rookery-mail/rookery/jepsen/nemesis"
)

// Status is the part of a node's GET /v1/status the harness reads.
type Status struct {
	NodeID       string `json:"node_id"`
	RaftState    string `json:"raft_state"`
	Term         uint64 `json:"term"`
	LeaderID     string `json:"leader_id"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
}

// MailboxRecord is the part of a directory mailbox record the harness
// reads from GET /v1/mailboxes.
type MailboxRecord struct {
	ID      uint64 `json:"id"`
	Name    string `json:"name"`
	State   string `json:"state"` // "reserved", "active", "moving", "deleting"
	Primary struct {
		Backend string `json:"backend"`
	} `json:"primary"`
}

// StateActive is MailboxRecord.State for an active mailbox.
const StateActive = "active"

var apiClient = &http.Client{Timeout: 10 * time.Second}

// get calls GET path on the cluster API at addr with the cluster secret.
func get(ctx context.Context, addr, secret, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", clusterapi.Bearer(secret))
	resp, err := apiClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cluster: GET %s on %s: %s: %s", path, addr, resp.Status, bytes.TrimSpace(body))
	}
	return json.Unmarshal(body, out)
}

// Status asks node i for its status on its own (unproxied) address.
func (c *Cluster) Status(ctx context.Context, i int) (Status, error) {
	var s Status
	err := get(ctx, c.Nodes[i].Real.API, c.secret, "/v1/status", &s)
	return s, err
}

// Mailboxes asks the cluster API at addr for the directory's mailboxes
// under prefix (a synced read on that node).
func (c *Cluster) Mailboxes(ctx context.Context, addr, prefix string) ([]MailboxRecord, error) {
	var list struct {
		Mailboxes []MailboxRecord `json:"mailboxes"`
	}
	err := get(ctx, addr, c.secret, "/v1/mailboxes?limit=100000&prefix="+url.QueryEscape(prefix), &list)
	return list.Mailboxes, err
}

// statuses asks every running, unpaused node for its status.
func (c *Cluster) statuses(ctx context.Context) map[int]Status {
	out := make(map[int]Status)
	for i, n := range c.Nodes {
		if !n.Running() || n.Paused() {
			continue
		}
		if s, err := c.Status(ctx, i); err == nil {
			out[i] = s
		}
	}
	return out
}

// Leader returns the index of the node that calls itself leader in the
// highest term, as the running nodes report.
func (c *Cluster) Leader(ctx context.Context) (int, error) {
	best, term := -1, uint64(0)
	for i, s := range c.statuses(ctx) {
		if s.RaftState == "Leader" && (best < 0 || s.Term > term) {
			best, term = i, s.Term
		}
	}
	if best < 0 {
		return -1, ErrNoLeader
	}
	return best, nil
}

// WaitRecovered waits until every node runs, all name the same leader, and
// all have applied the same index, polling until ctx ends.
func (c *Cluster) WaitRecovered(ctx context.Context) error {
	var last string
	for {
		last = c.converged(ctx)
		if last == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s", ErrNotRecovered, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// converged says what keeps the cluster from having converged, or "".
func (c *Cluster) converged(ctx context.Context) string {
	sts := c.statuses(ctx)
	if len(sts) < len(c.Nodes) {
		return fmt.Sprintf("%d of %d nodes answer", len(sts), len(c.Nodes))
	}
	leader, applied := sts[0].LeaderID, sts[0].AppliedIndex
	for i, s := range sts {
		switch {
		case s.LeaderID == "":
			return fmt.Sprintf("%s knows no leader", nemesis.NodeName(i))
		case s.LeaderID != leader:
			return fmt.Sprintf("leaders differ: %s and %s", leader, s.LeaderID)
		case s.AppliedIndex != applied:
			return fmt.Sprintf("applied indexes differ: %d and %d", applied, s.AppliedIndex)
		}
	}
	return ""
}

// AddUser adds a user and its INBOX with `rookery admin user add`, the
// password on stdin, through node 0, retrying while the cluster settles.
func (c *Cluster) AddUser(ctx context.Context, name, password string) error {
	var err error
	for attempt := 0; ; attempt++ {
		var out string
		out, err = c.admin(ctx, password+"\n", "user", "add", name)
		if err == nil {
			return nil
		}
		if strings.Contains(out, "exists") {
			// A retry after a user add that took effect: only the INBOX may be missing.
			out, err = c.admin(ctx, "", "mailbox", "create", "user/"+name+"/INBOX")
			if err == nil || strings.Contains(out, "exists") {
				return nil
			}
		}
		if attempt == 10 {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// admin runs rookery admin against node 0's cluster API.
func (c *Cluster) admin(ctx context.Context, stdin string, args ...string) (string, error) {
	return c.adminAt(ctx, c.Nodes[0].Real.API, stdin, args...)
}

// adminAt runs rookery admin against the cluster API at addr.
func (c *Cluster) adminAt(ctx context.Context, addr, stdin string, args ...string) (string, error) {
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(actx, c.cfg.Rookery, append([]string{"admin", "--addr", addr}, args...)...)
	cmd.Env = append(os.Environ(), "ROOKERY_CLUSTER_SECRET="+c.secret)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%w: rookery admin %s: %v: %s", ErrAdmin, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}
