package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"

	"github.com/rookery-mail/rookery/internal/node"
)

// devCluster is the nodes `rookery dev` runs, each of which can be stopped
// and started again from the terminal, so that a failover can be watched.
type devCluster struct {
	dir     string
	stdout  io.Writer
	log     *slog.Logger
	logFile *os.File
	cfgs    []Config

	mu    sync.Mutex
	nodes map[string]*node.Node // running nodes by id
}

// devConfigPath is where `rookery dev` writes node id's config, for
// `rookery admin --config` to read.
func devConfigPath(dir, id string) string { return filepath.Join(dir, id+".toml") }

// writeConfig writes cfg as a TOML config file, mode 0600 (it holds the
// cluster secret).
func writeConfig(path string, cfg Config) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "# Written by rookery dev for node %s; rewritten at every start.\n", cfg.NodeID)
	if err := toml.NewEncoder(f).Encode(cfg); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

func (d *devCluster) config(id string) (Config, bool) {
	for _, c := range d.cfgs {
		if c.NodeID == id {
			return c, true
		}
	}
	return Config{}, false
}

func (d *devCluster) running(id string) *node.Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nodes[id]
}

// start starts node id from its config and data directory.
func (d *devCluster) start(ctx context.Context, id string) error {
	n, err := d.open(id)
	if err != nil {
		return err
	}
	return d.run(ctx, id, n)
}

// open opens node id's directory node, which joins the others; its other
// roles wait for run. A fresh cluster elects its first leader only once
// every voter is open, so setUp opens them all before it runs any.
func (d *devCluster) open(id string) (*node.Node, error) {
	cfg, ok := d.config(id)
	if !ok {
		return nil, fmt.Errorf("no node %q in this dev cluster", id)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.nodes[id] != nil {
		return nil, fmt.Errorf("%s is already running", id)
	}
	n, err := newNode(cfg, d.log.With("node_id", id))
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", id, err)
	}
	if d.nodes == nil {
		d.nodes = map[string]*node.Node{}
	}
	d.nodes[id] = n
	return n, nil
}

// run starts the roles of node id, once its directory has a leader; a
// node that cannot start is closed and forgotten.
func (d *devCluster) run(ctx context.Context, id string, n *node.Node) error {
	if err := n.Start(ctx); err != nil {
		d.mu.Lock()
		delete(d.nodes, id)
		d.mu.Unlock()
		n.Close()
		return fmt.Errorf("start %s: %w", id, err)
	}
	return nil
}

// stop stops node id as a crash would look to the others: it stops
// answering, without leaving the cluster.
func (d *devCluster) stop(id string) error {
	if _, ok := d.config(id); !ok {
		return fmt.Errorf("no node %q in this dev cluster", id)
	}
	d.mu.Lock()
	n := d.nodes[id]
	delete(d.nodes, id)
	d.mu.Unlock()
	if n == nil {
		return fmt.Errorf("%s is not running", id)
	}
	return n.Close()
}

// closeAll stops every node, the last started first.
func (d *devCluster) closeAll() {
	for i := len(d.cfgs) - 1; i >= 0; i-- {
		d.stop(d.cfgs[i].NodeID)
	}
	if d.logFile != nil {
		d.logFile.Close()
		d.logFile = nil
	}
}

// readCommands runs the commands typed into the terminal until ctx ends
// or the input does.
func (d *devCluster) readCommands(ctx context.Context, in io.Reader) {
	sc := bufio.NewScanner(in)
	for sc.Scan() && ctx.Err() == nil {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			fmt.Fprintln(d.stdout, d.command(ctx, line))
		}
	}
}

// command runs one line typed into the terminal and says what came of it.
func (d *devCluster) command(ctx context.Context, line string) string {
	f := strings.Fields(line)
	if len(f) != 2 || (f[0] != "stop" && f[0] != "start") {
		return `commands: "stop NODE" (as if it crashed), "start NODE" (again, from its data)`
	}
	var err error
	if f[0] == "stop" {
		err = d.stop(f[1])
	} else {
		err = d.start(ctx, f[1])
	}
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%sed %s", map[string]string{"stop": "stopp", "start": "start"}[f[0]], f[1])
}
