package cluster

import (
	"context"
	"testing"
	"time"
)

// The production build carries no fault switches and says so; a build
// with FaultsTag does.
func TestBuildFaultsTag(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the rookery binary twice; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, tc := range []struct {
		tags []string
		want bool
	}{{nil, false}, {[]string{FaultsTag}, true}} {
		bin, err := Build(ctx, t.TempDir(), tc.tags...)
		if err != nil {
			t.Fatal(err)
		}
		got, err := HasFaults(ctx, bin)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("built with tags %v: HasFaults %v, want %v", tc.tags, got, tc.want)
		}
	}
}
