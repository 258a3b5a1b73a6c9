//go:build faults

package faults

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/rookery-mail/rookery/imapfront"
)

var errBehind = errors.New("behind the leader")

// fakeDirectory fails every freshness check, as a copy cut off from the
// leader would.
type fakeDirectory struct{ imapfront.Directory }

func (fakeDirectory) SyncedRead(context.Context) error { return errBehind }
func (fakeDirectory) FreshRead(context.Context) error  { return errBehind }

func TestSkipSyncedRead(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	d := fakeDirectory{}
	if got := FrontendDirectory(d, log); got.SyncedRead(context.Background()) == nil {
		t.Fatal("the switch is off, yet the synced read was skipped")
	}
	t.Setenv(EnvSkipSyncedRead, "1")
	got := FrontendDirectory(d, log)
	if err := got.SyncedRead(context.Background()); err != nil {
		t.Fatalf("SyncedRead with the switch on: %v", err)
	}
	if err := got.FreshRead(context.Background()); err != nil {
		t.Fatalf("FreshRead with the switch on: %v", err)
	}
}
