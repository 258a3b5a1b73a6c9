package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/node"
	"github.com/rookery-mail/rookery/tlsutil"
)

const devUsage = `Usage: rookery dev [flags]

Runs a cluster of 1 to 7 nodes (3 by default) on this machine, every node
with every role, and a demo user; prints how to connect. Data stays in --dir
between runs (use --clean to start afresh). Each node's config is written to
DIR/NODE.toml, for rookery admin --config. Ctrl-C stops every node cleanly.

While it runs, type "stop node2" to stop a node as if it crashed (and watch
the others fail over), and "start node2" to start it again from its data.

The nodes speak mutual TLS to each other with a CA made for the cluster in
DIR/tls, gossip is encrypted, and the frontends offer STARTTLS and implicit
TLS with a certificate of that CA (DIR/tls/ca/ca.crt for clients to trust).

Example:
  go run ./cmd/rookery dev
  go run ./cmd/rookery dev --clean --nodes 5

Flags:
`

const devUser, devPassword, devDomain = "demo", "demo", "localhost"

func runDev(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runDevUntil(ctx, args, os.Stdin, stdout)
}

// The default ports: IMAP, IMAPS, LMTP, POP3 and POP3S of the first
// node's frontend (+1 for each further node, up to 7 nodes without
// overlapping), and the first of the nodes' own ports (100 per node).
const (
	devBasePort  = 17000
	devIMAPPort  = 1143
	devIMAPSPort = 1993
	devLMTPPort  = 2424
	devPOP3Port  = 1110
	devPOP3SPort = 2995
	devMaxNodes  = 7
)

// runDevUntil runs the dev cluster until ctx ends, reading the terminal's
// commands from stdin.
func runDevUntil(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	dir := fs.String("dir", ".rookery-dev", "data `directory` for every node")
	clean := fs.Bool("clean", false, "remove the data directory first")
	nodes := fs.Int("nodes", 3, "number of nodes, 1 to 7 (3 or 5 keep a quorum through one or two failures)")
	basePort := fs.Int("base-port", devBasePort, "first of the ports the nodes use (100 per node)")
	imapPort := fs.Int("imap-port", devIMAPPort, "IMAP port of the first node's frontend (+1 per node)")
	imapsPort := fs.Int("imaps-port", devIMAPSPort, "IMAP implicit-TLS port of the first node's frontend (+1 per node)")
	lmtpPort := fs.Int("lmtp-port", devLMTPPort, "LMTP port of the first node's frontend (+1 per node)")
	pop3Port := fs.Int("pop3-port", devPOP3Port, "POP3 port of the first node's frontend (+1 per node)")
	pop3sPort := fs.Int("pop3s-port", devPOP3SPort, "POP3 implicit-TLS port of the first node's frontend (+1 per node)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the cluster, from its start until it stops, to `file` (for go tool pprof)")
	if err := parseFlags(fs, "dev", devUsage, args, stdout); err != nil {
		return helpDone(err)
	}
	if fs.NArg() > 0 {
		return usageErrorf("dev", "unexpected argument %q", fs.Arg(0))
	}
	if *nodes < 1 || *nodes > devMaxNodes {
		return usageErrorf("dev", "--nodes %d: a dev cluster has 1 to 7 nodes", *nodes)
	}
	if *clean {
		if err := os.RemoveAll(*dir); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed %s\n", *dir)
	} else if _, err := os.Stat(*dir); err == nil {
		fmt.Fprintf(stdout, "reusing the data in %s (run with --clean to start afresh)\n", *dir)
	}
	_, statErr := os.Stat(*dir)
	fresh := errors.Is(statErr, os.ErrNotExist)
	d := &devCluster{dir: *dir, stdout: stdout}
	defer d.closeAll()
	if err := d.setUp(ctx, *nodes, *basePort, *imapPort, *imapsPort, *lmtpPort, *pop3Port, *pop3sPort); err != nil {
		if fresh {
			// A first run that failed (a port taken) leaves nothing behind.
			d.closeAll()
			os.RemoveAll(*dir)
		}
		return err
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	printDevBanner(stdout, d.cfgs, *dir)
	go d.readCommands(ctx, stdin)
	<-ctx.Done()
	fmt.Fprintln(stdout, "\nstopping the cluster...")
	return nil
}

// setUp makes the data directory, the secret, the TLS material and each
// node's config file, and starts the nodes and the demo user.
func (d *devCluster) setUp(ctx context.Context, nodes, basePort, imapPort, imapsPort, lmtpPort, pop3Port, pop3sPort int) error {
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return err
	}
	secret, err := devSecret(filepath.Join(d.dir, "cluster-secret"))
	if err != nil {
		return err
	}
	logFile, err := os.OpenFile(filepath.Join(d.dir, "rookery.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	d.logFile = logFile
	d.log = newLogger(logFile, "text", "info")

	d.cfgs = devConfigs(d.dir, secret, nodes, basePort, imapPort, lmtpPort)
	if err := devTLS(d.dir, d.cfgs); err != nil {
		return fmt.Errorf("TLS material: %w", err)
	}
	devClientPorts(d.cfgs, basePort, imapsPort, pop3Port, pop3sPort)
	if err := devPortClash(d.cfgs); err != nil {
		return err
	}
	for _, cfg := range d.cfgs {
		if err := writeConfig(devConfigPath(d.dir, cfg.NodeID), cfg); err != nil {
			return err
		}
	}
	fmt.Fprintf(d.stdout, "waiting for %d nodes to elect a leader...\n", len(d.cfgs))
	opened := make([]*node.Node, len(d.cfgs))
	for i, cfg := range d.cfgs {
		if opened[i], err = d.open(cfg.NodeID); err != nil {
			return err
		}
	}
	for i, cfg := range d.cfgs {
		if err := d.run(ctx, cfg.NodeID, opened[i]); err != nil {
			return err
		}
	}
	setupCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := devDemoUser(setupCtx, d.running(d.cfgs[0].NodeID)); err != nil {
		return fmt.Errorf("demo user: %w", err)
	}
	// Every node has the demo user before the banner offers its ports.
	for _, cfg := range d.cfgs {
		if _, err := d.running(cfg.NodeID).Directory().Read(setupCtx, directory.Synced); err != nil {
			return fmt.Errorf("%s catching up: %w", cfg.NodeID, err)
		}
	}
	return nil
}

func devConfigs(dir, secret string, n, base, imapPort, lmtpPort int) []Config {
	var join []string
	for i := range n {
		join = append(join, fmt.Sprintf("127.0.0.1:%d", base+100*i+2))
	}
	var cfgs []Config
	for i := range n {
		p := base + 100*i
		c := Default()
		c.NodeID = fmt.Sprintf("node%d", i+1)
		c.DataDir = filepath.Join(dir, c.NodeID)
		c.ClusterSecret = secret
		c.Directory.RaftAddr = fmt.Sprintf("127.0.0.1:%d", p)
		c.Directory.APIAddr = fmt.Sprintf("127.0.0.1:%d", p+1)
		c.Directory.GossipAddr = fmt.Sprintf("127.0.0.1:%d", p+2)
		c.Directory.Join = join
		c.Directory.BootstrapExpect = n
		c.Backend.ID = c.NodeID
		c.Backend.IMAPAddr = fmt.Sprintf("127.0.0.1:%d", p+3)
		c.Backend.LMTPAddr = fmt.Sprintf("127.0.0.1:%d", p+4)
		c.Frontend.IMAPAddr = fmt.Sprintf("127.0.0.1:%d", imapPort+i)
		c.Frontend.LMTPAddr = fmt.Sprintf("127.0.0.1:%d", lmtpPort+i)
		c.Frontend.AllowPlaintextLogin = true
		c.AdminAddr = fmt.Sprintf("127.0.0.1:%d", p+5)
		cfgs = append(cfgs, c)
	}
	return cfgs
}

// devPortClash says which address two listeners of the dev cluster would
// share, as the per-node port ranges of the flags can overlap.
func devPortClash(cfgs []Config) error {
	seen := map[string]string{}
	for _, c := range cfgs {
		for what, addr := range map[string]string{
			"raft": c.Directory.RaftAddr, "cluster API": c.Directory.APIAddr, "gossip": c.Directory.GossipAddr,
			"backend IMAP": c.Backend.IMAPAddr, "backend LMTP": c.Backend.LMTPAddr, "backend POP3": c.Backend.POP3Addr,
			"IMAP": c.Frontend.IMAPAddr, "IMAPS": c.Frontend.IMAPSAddr, "LMTP": c.Frontend.LMTPAddr,
			"POP3": c.Frontend.POP3Addr, "POP3S": c.Frontend.POP3SAddr, "admin": c.AdminAddr,
		} {
			if addr == "" || strings.HasSuffix(addr, ":0") {
				continue
			}
			name := c.NodeID + " " + what
			if other, ok := seen[addr]; ok {
				return fmt.Errorf("%s and %s would both listen on %s: choose port flags whose ranges (+1 per node) do not overlap", other, name, addr)
			}
			seen[addr] = name
		}
	}
	return nil
}

// devTLS makes the dev cluster's CA, gossip key and node certificates in
// dir/tls on the first run, reuses them afterwards, and points every
// config at them: mutual TLS between nodes, encrypted gossip, and the node
// certificate on the frontends' client ports.
func devTLS(dir string, cfgs []Config) error {
	caDir := filepath.Join(dir, "tls", "ca")
	if _, err := os.Stat(filepath.Join(caDir, tlsutil.CACertFile)); errors.Is(err, os.ErrNotExist) {
		if _, err := tlsutil.InitCA(caDir); err != nil {
			return err
		}
	}
	keyFile := filepath.Join(caDir, tlsutil.GossipKeyFile)
	if err := tlsutil.InitGossipKey(keyFile); err != nil && !errors.Is(err, tlsutil.ErrExists) {
		return err
	}
	for i := range cfgs {
		c := &cfgs[i]
		nodeDir := filepath.Join(dir, "tls", c.NodeID)
		if _, err := os.Stat(filepath.Join(nodeDir, tlsutil.NodeCertFile)); errors.Is(err, os.ErrNotExist) {
			if _, err := tlsutil.IssueNode(caDir, c.NodeID, []string{"localhost", "127.0.0.1"}, nodeDir); err != nil {
				return err
			}
		}
		c.TLS.NodeDir = nodeDir
		c.TLS.GossipKeyFile = keyFile
		c.Frontend.TLSCertFile = filepath.Join(nodeDir, tlsutil.NodeCertFile)
		c.Frontend.TLSKeyFile = filepath.Join(nodeDir, tlsutil.NodeKeyFile)
	}
	return nil
}

// devClientPorts gives every frontend IMAPS and its POP3 and POP3S
// listeners, and every backend a POP3 listener (the seventh of its ports).
func devClientPorts(cfgs []Config, base, imapsPort, pop3Port, pop3sPort int) {
	for i := range cfgs {
		c := &cfgs[i]
		if imapsPort > 0 {
			c.Frontend.IMAPSAddr = fmt.Sprintf("127.0.0.1:%d", imapsPort+i)
		}
		c.Backend.POP3Addr = fmt.Sprintf("127.0.0.1:%d", base+100*i+6)
		c.Frontend.POP3Addr = fmt.Sprintf("127.0.0.1:%d", pop3Port+i)
		if pop3sPort > 0 {
			c.Frontend.POP3SAddr = fmt.Sprintf("127.0.0.1:%d", pop3sPort+i)
		}
	}
}

// devSecret reads the dev cluster's secret, or makes one on the first run.
func devSecret(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 24)
	rand.Read(buf)
	s := hex.EncodeToString(buf)
	return s, os.WriteFile(path, []byte(s+"\n"), 0o600)
}

// devDemoUser adds the demo user and its INBOX unless a previous run did,
// and on a fresh directory the mail domain localhost, the default: mail
// to demo@localhost is delivered, to any other domain refused.
func devDemoUser(ctx context.Context, n *node.Node) error {
	v, err := n.Directory().Read(ctx, directory.Synced)
	if err != nil {
		return err
	}
	if len(v.Domains()) == 0 {
		res, err := n.Directory().Apply(ctx, fsm.DomainAdd{Name: devDomain, Default: true})
		if err == nil {
			err = res.Err
		}
		if err != nil {
			return err
		}
	}
	if _, ok := v.User(devUser); !ok {
		if err := n.AddUser(ctx, devUser, devPassword); err != nil {
			return err
		}
	}
	return n.EnsureInbox(ctx, devUser)
}

func printDevBanner(w io.Writer, cfgs []Config, dir string) {
	fmt.Fprintf(w, "\nRookery dev cluster: %d nodes, every node a directory voter, backend and frontend.\n\n", len(cfgs))
	fmt.Fprintf(w, "  user %q, password %q (plaintext login allowed: dev only)\n\n", devUser, devPassword)
	for _, c := range cfgs {
		fmt.Fprintf(w, "  %s  IMAP %s (STARTTLS)  IMAPS %s  POP3 %s (STLS)  POP3S %s  LMTP %s   status page http://%s/status\n",
			c.NodeID, c.Frontend.IMAPAddr, c.Frontend.IMAPSAddr, c.Frontend.POP3Addr, c.Frontend.POP3SAddr, c.Frontend.LMTPAddr, c.AdminAddr)
	}
	fmt.Fprintf(w, "\n  nodes speak mutual TLS; clients trust %s\n", filepath.Join(dir, "tls", "ca", tlsutil.CACertFile))
	c := cfgs[0]
	fmt.Fprintf(w, "\nTry:\n")
	fmt.Fprintf(w, "  curl -s imap://%s/ -u %s:%s                      # list folders\n", c.Frontend.IMAPAddr, devUser, devPassword)
	if c.Frontend.POP3Addr != "" {
		fmt.Fprintf(w, "  curl -s pop3://%s/ -u %s:%s                      # list the INBOX over POP3 (STLS with --ssl-reqd)\n", c.Frontend.POP3Addr, devUser, devPassword)
	}
	if c.Frontend.POP3SAddr != "" {
		fmt.Fprintf(w, "  curl -s --cacert %s pop3s://localhost:%s/1 -u %s:%s   # fetch message 1 over POP3S\n",
			filepath.Join(dir, "tls", "ca", tlsutil.CACertFile), portOf(c.Frontend.POP3SAddr), devUser, devPassword)
	}
	fmt.Fprintf(w, "  swaks --protocol LMTP --server %s --to %s@%s   # deliver a message (other domains get 550 5.1.2)\n", c.Frontend.LMTPAddr, devUser, devDomain)
	if c.Frontend.IMAPSAddr != "" {
		fmt.Fprintf(w, "  curl -s --cacert %s imaps://localhost:%s/ -u %s:%s   # the same over TLS\n",
			filepath.Join(dir, "tls", "ca", tlsutil.CACertFile), portOf(c.Frontend.IMAPSAddr), devUser, devPassword)
	}
	fmt.Fprintf(w, "  go run ./cmd/rookery admin --config %s status   # each node's config is %s\n",
		devConfigPath(dir, c.NodeID), devConfigPath(dir, "NODE"))
	fmt.Fprintf(w, "\nType \"stop %s\" to stop a node as if it crashed and watch the others take over, \"start %s\" to bring it back.\n",
		cfgs[len(cfgs)-1].NodeID, cfgs[len(cfgs)-1].NodeID)
	fmt.Fprintf(w, "Logs: %s/rookery.log. Ctrl-C stops the cluster.\n", dir)
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// startCPUProfile profiles the process into path until stop.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
