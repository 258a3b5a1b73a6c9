//go:build faults

package faults

import (
	"context"
	"log/slog"
	"os"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// Enabled reports whether this binary was built with the fault switches.
const Enabled = true

// EnvSkipSyncedRead, set to 1, makes the IMAP frontend trust its local
// directory copy however stale: a SELECT of a name the local copy lacks
// says NONEXISTENT at once. Never set it on a real cluster.
const EnvSkipSyncedRead = "ROOKERY_FAULT_SKIP_SYNCED_READ"

// FrontendDirectory is the directory the IMAP frontend reads: d, or d
// without its freshness checks when EnvSkipSyncedRead is set.
func FrontendDirectory(d directory.Directory, log *slog.Logger) directory.Directory {
	if os.Getenv(EnvSkipSyncedRead) != "1" {
		return d
	}
	log.Warn("fault injection: the IMAP frontend trusts its local directory copy however stale",
		"env", EnvSkipSyncedRead)
	return staleDirectory{d}
}

// staleDirectory is a directory with its freshness checks removed.
type staleDirectory struct{ directory.Directory }

var _ directory.Directory = staleDirectory{}

// Read reads the local copy whatever level is asked for.
func (d staleDirectory) Read(ctx context.Context, _ directory.Level) (*fsm.View, error) {
	return d.Directory.Read(ctx, directory.Local)
}
