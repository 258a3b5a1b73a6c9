package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/node"
	"github.com/rookery-mail/rookery/replication"
)

// `rookery admin mailbox move NAME BACKEND` and `rookery admin backend
// drain BACKEND`: live moves through a backend node's cluster API (any
// backend passes the call on to the mailbox's primary), with progress.
// A move runs until it is done or aborts: --timeout bounds the directory
// calls around it, not the move.

// moveProgressEvery is how often a progress line is printed when the
// output is not a terminal.
const moveProgressEvery = 3 * time.Second

// mailboxMove moves one mailbox and prints its progress.
func (a *adminCmd) mailboxMove(ctx context.Context, name, target string) error {
	if name == "" || target == "" {
		return usageErrorf("admin mailbox move", "name the mailbox and the backend to move it to")
	}
	if err := fsm.ValidateName(name); err != nil {
		return err
	}
	// The directory refuses a move to where the mailbox is already, as an
	// invalid command; say what is the matter instead.
	if mb, err := a.client.Mailbox(ctx, name); err != nil {
		return err
	} else if mb.Primary.Backend == target {
		return fmt.Errorf("%s is already on %s: nothing to move", name, target)
	}
	addr, err := a.backendNode(ctx)
	if err != nil {
		return err
	}
	_, err = a.move(ctx, addr, name, target)
	return err
}

// backendDrain moves every mailbox whose primary is id to other backends,
// one at a time. (It leaves the backend's state alone: frontends reach
// only backends that are up, and the mailboxes must stay reachable while
// they wait their turn.)
func (a *adminCmd) backendDrain(ctx context.Context, id string) error {
	if id == "" {
		return usageErrorf("admin backend drain", "name the backend")
	}
	// Draining first: no new mailbox lands on the backend while its
	// mailboxes leave, and frontends keep serving those still there.
	res, err := a.client.Apply(ctx, fsm.SetBackendState{ID: id, State: fsm.BackendDraining, At: time.Now().UnixNano()})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return fmt.Errorf("mark %s draining: %w", id, err)
	}
	list, err := a.client.Mailboxes(ctx, "", maxDrainList)
	if err != nil {
		return err
	}
	var names []string
	for _, m := range list.Mailboxes {
		if m.Primary.Backend == id && m.State == fsm.Active {
			names = append(names, m.Name)
		}
	}
	if list.Truncated {
		fmt.Fprintf(os.Stderr, "only the first %d mailboxes of the directory were looked at; run drain again\n", maxDrainList)
	}
	addr, err := a.backendNode(ctx)
	if err != nil {
		return err
	}
	moved, failed := 0, 0
	for i, name := range names {
		if !a.json {
			fmt.Fprintf(a.out, "[%d/%d] ", i+1, len(names))
		}
		// The primary picks the target: a replica that is in sync, else
		// the up backends by hash of the name.
		if _, err := a.move(ctx, addr, name, ""); err != nil {
			failed++
			continue
		}
		moved++
	}
	if !a.json {
		fmt.Fprintf(a.out, "drained %s: %d mailboxes moved, %d failed\n", id, moved, failed)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d moves failed", failed, len(names))
	}
	return nil
}

// maxDrainList is how many directory entries a drain looks at in one run.
const maxDrainList = 100000

// backendNode picks a healthy backend node's cluster API address.
func (a *adminCmd) backendNode(ctx context.Context) (string, error) {
	members, err := a.client.ClusterStatus(ctx)
	if err != nil {
		return "", err
	}
	var addrs []string
	for _, m := range members {
		if m.Error == "" && slices.Contains(m.Roles, node.RoleBackend) {
			addrs = append(addrs, m.APIAddr)
		}
	}
	if len(addrs) == 0 {
		return "", fmt.Errorf("no healthy backend node")
	}
	return addrs[rand.IntN(len(addrs))], nil
}

// move runs one move through the backend node at addr and shows its
// progress: JSON lines with --json, else a line redrawn in place on a
// terminal or printed every few seconds otherwise.
func (a *adminCmd) move(ctx context.Context, addr, name, target string) (replication.MoveProgress, error) {
	// The move outlives --timeout and the client's per-call timeout.
	show := a.progressPrinter()
	last, err := replication.MoveRemote(context.WithoutCancel(ctx), a.client.API().WithoutTimeout(), addr,
		replication.MoveRequest{Name: name, Target: target}, show)
	if err != nil && last.Phase == "" {
		// Refused before it began: no progress line has said why.
		show(replication.MoveProgress{Mailbox: name, Target: target, Phase: replication.PhaseAborted, Error: err.Error()})
	}
	return last, err
}

// progressPrinter returns the function that shows one move's reports.
func (a *adminCmd) progressPrinter() func(replication.MoveProgress) {
	if a.json {
		enc := json.NewEncoder(a.out)
		return func(p replication.MoveProgress) { enc.Encode(p) }
	}
	tty := isTerminal(a.out)
	start := time.Now()
	var shown time.Time
	return func(p replication.MoveProgress) {
		final := p.Phase == replication.PhaseDone || p.Phase == replication.PhaseAborted
		if !tty && !final && time.Since(shown) < moveProgressEvery && !shown.IsZero() {
			return
		}
		shown = time.Now()
		line := progressLine(p, time.Since(start))
		switch {
		case tty && final:
			fmt.Fprintf(a.out, "\r\033[K%s\n", line)
		case tty:
			fmt.Fprintf(a.out, "\r\033[K%s", line)
		default:
			fmt.Fprintln(a.out, line)
		}
	}
}

// progressLine is one move's state: mailbox, route, count of total, rate.
func progressLine(p replication.MoveProgress, elapsed time.Duration) string {
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(p.Copied) / s
	}
	route := p.Source + " -> " + p.Target
	if p.Source == "" {
		route = "-> " + p.Target
	}
	line := fmt.Sprintf("%s %s: %s %d/%d messages, %.0f msg/s, %s", p.Mailbox, route, p.Phase,
		p.Copied, p.Total, rate, elapsed.Round(100*time.Millisecond))
	if p.Error != "" {
		line += ": " + p.Error
	}
	return line
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
