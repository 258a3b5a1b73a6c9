package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rookery-mail/rookery/jepsen/netns"
)

const cleanupUsage = `usage: rookery-jepsen cleanup [--all]

Removes the network namespaces and interfaces (names starting with rkj-)
that --net netns runs left behind, killing by PID any node still inside one.
Without --all, those of a harness still running are left alone; every run
also does this itself before it builds its network.

Flags:
`

func runCleanup(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cleanup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, cleanupUsage); fs.PrintDefaults() }
	all := fs.Bool("all", false, "also remove the namespaces of harnesses still running")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return exitError
	}
	if err := netns.Available(); err != nil {
		fmt.Fprintln(stderr, "rookery-jepsen:", err)
		return exitError
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	removed, err := netns.RemoveLeftovers(ctx, *all)
	for _, name := range removed {
		fmt.Fprintln(stdout, "removed", name)
	}
	if err != nil {
		fmt.Fprintln(stderr, "rookery-jepsen:", err)
		return exitError
	}
	if len(removed) == 0 {
		fmt.Fprintln(stdout, "nothing to remove")
	}
	return 0
}
