//go:build !faults

package faults

import (
	"testing"

	"github.com/rookery-mail/rookery/directory"
)

type fakeDirectory struct{ directory.Directory }

// Without the tag the switch does nothing, even when its variable is set.
func TestNoFaultsWithoutTag(t *testing.T) {
	t.Setenv("ROOKERY_FAULT_SKIP_SYNCED_READ", "1")
	d := &fakeDirectory{}
	if got := FrontendDirectory(d, nil); got != directory.Directory(d) {
		t.Fatalf("FrontendDirectory wrapped the directory in a build without faults: %T", got)
	}
	if Enabled {
		t.Fatal("Enabled in a build without the faults tag")
	}
}
