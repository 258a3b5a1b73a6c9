package netproxy

import (
	"testing"
	"time"
)

func TestFaultsPartitionReplacesCuts(t *testing.T) {
	f := NewFaults()
	f.Cut("n1", "n2", Blackhole)
	f.Delay("n1", "n3", time.Second)
	_, changed := f.State("n1", "n2")
	f.Partition([]Link{{"n2", "n3"}, {"n3", "n2"}}, Reset)
	select {
	case <-changed:
	default:
		t.Fatal("partition did not signal a change")
	}
	want := map[Link]LinkState{
		{"n1", "n3"}: {Delay: time.Second},
		{"n2", "n3"}: {Cut: true, Mode: Reset},
		{"n3", "n2"}: {Cut: true, Mode: Reset},
	}
	got := f.Links()
	if len(got) != len(want) {
		t.Fatalf("links %v, want %v", got, want)
	}
	for l, s := range want {
		if got[l] != s {
			t.Fatalf("link %v: %+v, want %+v", l, got[l], s)
		}
	}
	f.HealAll()
	if len(f.Links()) != 0 {
		t.Fatalf("after heal: %v", f.Links())
	}
}
