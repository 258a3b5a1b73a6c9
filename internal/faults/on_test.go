//go:build faults

package faults

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

var errBehind = errors.New("behind the leader")

// fakeDirectory answers a local read from its copy and fails every read
// that needs the leader, as a copy cut off from the leader would.
type fakeDirectory struct {
	directory.Directory
	levels *[]directory.Level
}

func (d fakeDirectory) Read(_ context.Context, level directory.Level) (*fsm.View, error) {
	*d.levels = append(*d.levels, level)
	if level != directory.Local {
		return nil, errBehind
	}
	return fsm.New().View(), nil
}

func TestSkipSyncedRead(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	var levels []directory.Level
	d := fakeDirectory{levels: &levels}
	if _, err := FrontendDirectory(d, log).Read(context.Background(), directory.Synced); !errors.Is(err, errBehind) {
		t.Fatalf("the switch is off, yet the synced read was skipped: %v", err)
	}
	t.Setenv(EnvSkipSyncedRead, "1")
	got := FrontendDirectory(d, log)
	for _, level := range []directory.Level{directory.Synced, directory.Fresh} {
		if _, err := got.Read(context.Background(), level); err != nil {
			t.Fatalf("read at level %v with the switch on: %v", level, err)
		}
	}
	if want := []directory.Level{directory.Synced, directory.Local, directory.Local}; len(levels) != 3 || levels[1] != want[1] || levels[2] != want[2] {
		t.Fatalf("levels read: %v, want %v", levels, want)
	}
}
