package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/replication"
)

// Progress to a file or pipe: the first report and the last are printed,
// the ones between at most every few seconds; with --json every report is
// a JSON line.
func TestMoveProgressPrinter(t *testing.T) {
	var out bytes.Buffer
	a := &adminCmd{out: &out}
	show := a.progressPrinter()
	p := replication.MoveProgress{Mailbox: "user/alice/INBOX", Source: "b1", Target: "b2", Phase: replication.PhaseCopying, Total: 1000}
	for i := 0; i <= 1000; i += 100 {
		p.Copied = i
		show(p)
	}
	p.Phase = replication.PhaseDone
	show(p)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("printed %d lines: %q", len(lines), out.String())
	}
	if !strings.HasPrefix(lines[1], "user/alice/INBOX b1 -> b2: done 1000/1000 messages, ") || !strings.Contains(lines[1], " msg/s, ") {
		t.Fatalf("last line %q", lines[1])
	}

	out.Reset()
	a.json = true
	show = a.progressPrinter()
	show(p)
	var got replication.MoveProgress
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got != p {
		t.Fatalf("json line %q: %v", out.String(), err)
	}
}

func TestProgressLineRate(t *testing.T) {
	p := replication.MoveProgress{Mailbox: "m", Target: "b2", Phase: replication.PhaseAborted, Copied: 500, Total: 900, Error: "target stopped"}
	if got := progressLine(p, 2*time.Second); got != "m -> b2: aborted 500/900 messages, 250 msg/s, 2s: target stopped" {
		t.Fatalf("%q", got)
	}
}
