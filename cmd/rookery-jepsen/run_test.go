package main

import (
	"bytes"
	"slices"
	"testing"

	"github.com/rookery-mail/rookery/jepsen/nemesis"
)

func TestParseNemesesAliases(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []nemesis.Kind
	}{
		{"none", nil},
		{"", nil},
		{"kill", []nemesis.Kind{nemesis.Kill}},
		{"partition,kill", []nemesis.Kind{nemesis.PartitionOne, nemesis.PartitionMajority, nemesis.PartitionLeader, nemesis.Kill}},
	} {
		got, err := parseNemeses(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("parseNemeses(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	all, err := parseNemeses("all")
	if err != nil || len(all) != 11 {
		t.Errorf("parseNemeses(all) = %v, %v; want the eleven kinds", all, err)
	}
	if _, err := parseNemeses("partition,flood"); err == nil {
		t.Error("an unknown nemesis was accepted")
	}
}

// TestRunRefusesBadFlags: a run that cannot be made exits 254 before it
// starts anything.
func TestRunRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--nemesis", "flood"},
		{"run", "--workload", "nosuch", "--rookery", "/nonexistent", "--store", t.TempDir()},
		{"run", "--nodes", "0", "--store", t.TempDir()},
		{"run", "--fault", "nosuch"},
		{"run", "--net", "bogus"},
		{"test-all", "--nemeses", "flood"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != exitError {
			t.Errorf("%v: exit %d, want %d; stderr: %s", args, code, exitError, errOut.String())
		}
	}
}
