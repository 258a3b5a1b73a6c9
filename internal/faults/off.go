//go:build !faults

package faults

import (
	"log/slog"

	"github.com/rookery-mail/rookery/directory"
)

// Enabled reports whether this binary was built with the fault switches.
const Enabled = false

// FrontendDirectory is the directory the IMAP frontend reads: d itself.
func FrontendDirectory(d directory.Directory, _ *slog.Logger) directory.Directory { return d }
