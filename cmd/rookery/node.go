package main

import (
	"context"
	"flag"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const nodeUsage = `Usage: rookery node --config FILE [flags]

Runs one node of a Rookery cluster with the roles its config names.
Settings come from the defaults, then the config file, then these flags.

Example:
  rookery node --config /etc/rookery/node.toml
  rookery node --config node.toml --node-id mx2 --join 10.0.0.1:7002

Flags:
`

func runNode(args []string, stdout, stderr io.Writer) error {
	cfg := Default()
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	configPath := fs.String("config", "", "TOML config `file`")
	nodeID := fs.String("node-id", "", "override node_id")
	dataDir := fs.String("data-dir", "", "override data_dir")
	join := fs.String("join", "", "override directory.join: comma-separated gossip addresses")
	expect := fs.Int("bootstrap-expect", -1, "override directory.bootstrap_expect")
	if err := parseFlags(fs, "node", nodeUsage, args, stdout); err != nil {
		return helpDone(err)
	}
	if fs.NArg() > 0 {
		return usageErrorf("node", "unexpected argument %q", fs.Arg(0))
	}
	if *configPath == "" {
		return usageErrorf("node", "name the node's config file with --config FILE")
	}
	if err := cfg.LoadFile(*configPath); err != nil {
		return err
	}
	if *nodeID != "" {
		cfg.NodeID = *nodeID
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if *join != "" {
		cfg.Directory.Join = splitList(*join)
	}
	if *expect >= 0 {
		cfg.Directory.BootstrapExpect = *expect
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	if msg := cfg.noLoginWarning(); msg != "" {
		log.Error(msg)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := newNode(cfg, log)
	if err != nil {
		return err
	}
	return n.Run(ctx)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
