package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/rookery-mail/rookery/bench"
)

const benchUsage = `Usage: rookery bench KIND [flags]

Loads an IMAP or LMTP server (Rookery or any other) and checks what it
answers. Each run writes <out>.json and <out>.html (throughput over time and
latency histograms as inline SVG) and exits 1 if the server broke an
invariant.

Kinds:
  imap        a mixed IMAP load in the style of imaptest: login, list, status,
              select, fetch envelopes and bodies, search, store, append,
              expunge, logout; each client checks UIDs, sequence numbers and
              EXISTS counts against what it alone put in its own mailbox
  lmtp        deliveries of --size bytes to --rcpts recipients over --conns
              connections, then (with --imap) a check over IMAP that every
              acknowledged copy arrived exactly once
  directory   CREATE, RENAME and DELETE through IMAP frontends, measuring the
              list lag: from OK on one frontend until LIST on the next shows it

Examples:
  rookery bench imap --imap 127.0.0.1:1143 --user demo --password demo --clients 8 --duration 30s
  rookery bench imap --imap 127.0.0.1:1143 --users users.txt --keep-open --size 20000
  rookery bench lmtp --lmtp 127.0.0.1:2424 --imap 127.0.0.1:1143 --user demo --password demo --rcpts 3 --conns 4 --size 10000
  rookery bench directory --imap 127.0.0.1:1143,127.0.0.1:1144,127.0.0.1:1145 --user demo --password demo --clients 3

A users file has one "name password" per line.

Flags:
`

func runBench(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		printUsage(newBenchFlags("KIND").fs, benchUsage, stdout)
		return nil
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageErrorf("bench", "name a kind first: imap, lmtp or directory")
	}
	kind := args[0]
	if kind != "imap" && kind != "lmtp" && kind != "directory" {
		return usageErrorf("bench", "unknown kind %q: imap, lmtp or directory", kind)
	}
	f := newBenchFlags(kind)
	if err := parseFlags(f.fs, "bench", benchUsage, args[1:], stdout); err != nil {
		return helpDone(err)
	}
	if f.fs.NArg() > 0 {
		return usageErrorf("bench", "unexpected argument %q", f.fs.Arg(0))
	}
	users, err := f.credentials()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := newLogger(stderr, "text", f.logLevel)

	var res *bench.Result
	switch kind {
	case "imap":
		res, err = bench.RunIMAP(ctx, bench.IMAPConfig{Addr: f.firstIMAP(), Users: users, Clients: f.clients,
			Duration: f.duration, KeepOpen: f.keepOpen, SessionOps: f.sessionOps, Size: f.size, Seed: f.seed, Logger: log})
	case "lmtp":
		res, err = bench.RunLMTP(ctx, bench.LMTPConfig{LMTPAddr: f.lmtp, IMAPAddr: f.firstIMAP(), Users: users,
			Domain: f.domain, Rcpts: f.rcpts, Conns: f.conns, Duration: f.duration, Size: f.size, Seed: f.seed, Logger: log})
	case "directory":
		res, err = bench.RunDirectory(ctx, bench.DirectoryConfig{Addrs: f.imapAddrs(), Users: users, Clients: f.clients,
			Duration: f.duration, Seed: f.seed, LagBound: f.lagBound, Strict: f.strictList, Logger: log})
	}
	if err != nil {
		return err
	}
	res.Command = "rookery bench " + strings.Join(redactPassword(args), " ")
	out := f.out
	if out == "" {
		out = filepath.Join("bench-results", kind+"-"+res.Date.Format("20060102-150405"))
	}
	if err := res.Write(out); err != nil {
		return err
	}
	printBenchSummary(stdout, res)
	fmt.Fprintf(stdout, "\nwrote %s.json and %s.html\n", out, out)
	return res.Err()
}

type benchFlags struct {
	fs                                 *flag.FlagSet
	imap, lmtp, user, password, usersF string
	domain, out, logLevel              string
	clients, conns, rcpts, size        int
	sessionOps                         int
	keepOpen, strictList               bool
	duration, lagBound                 time.Duration
	seed                               int64
}

func newBenchFlags(kind string) *benchFlags {
	f := &benchFlags{fs: flag.NewFlagSet("bench "+kind, flag.ContinueOnError)}
	fs := f.fs
	fs.StringVar(&f.imap, "imap", "127.0.0.1:1143", "IMAP `host:port`; for directory, a comma-separated list of frontends")
	fs.StringVar(&f.lmtp, "lmtp", "127.0.0.1:2424", "LMTP `host:port`")
	fs.StringVar(&f.user, "user", "demo", "user to log in as and deliver to")
	fs.StringVar(&f.password, "password", "demo", "the user's password")
	fs.StringVar(&f.usersF, "users", "", "`file` of \"name password\" lines, instead of --user")
	fs.StringVar(&f.domain, "domain", "localhost", "domain of the LMTP recipients")
	fs.IntVar(&f.clients, "clients", 4, "concurrent IMAP clients")
	fs.IntVar(&f.conns, "conns", 2, "concurrent LMTP connections")
	fs.IntVar(&f.rcpts, "rcpts", 1, "recipients per LMTP message")
	fs.IntVar(&f.size, "size", 4096, "message size in bytes")
	fs.IntVar(&f.sessionOps, "session-ops", 20, "commands per IMAP session before LOGOUT (unless --keep-open)")
	fs.BoolVar(&f.keepOpen, "keep-open", false, "keep each IMAP session open for the whole run")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "how long the load runs")
	fs.DurationVar(&f.lagBound, "lag-bound", 5*time.Second, "list lag above this is a violation")
	fs.BoolVar(&f.strictList, "strict-list", true, "directory: a LIST on another frontend begun after a change's OK that does not show it is a violation (false: only counted)")
	fs.Int64Var(&f.seed, "seed", 1, "seed of the command mix")
	fs.StringVar(&f.out, "out", "", "`path` of the result, without .json/.html (default bench-results/KIND-DATE)")
	fs.StringVar(&f.logLevel, "log-level", "warn", "debug, info, warn or error")
	return f
}

func (f *benchFlags) imapAddrs() []string {
	var out []string
	for _, a := range strings.Split(f.imap, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

func (f *benchFlags) firstIMAP() string {
	if a := f.imapAddrs(); len(a) > 0 {
		return a[0]
	}
	return ""
}

func (f *benchFlags) credentials() ([]bench.Credential, error) {
	if f.usersF == "" {
		return []bench.Credential{{User: f.user, Password: f.password}}, nil
	}
	file, err := os.Open(f.usersF)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	var out []bench.Credential
	sc := bufio.NewScanner(file)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, pw, ok := strings.Cut(line, " ")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want \"name password\"", f.usersF, n)
		}
		out = append(out, bench.Credential{User: name, Password: strings.TrimSpace(pw)})
	}
	if len(out) == 0 && sc.Err() == nil {
		return nil, fmt.Errorf("%s: no users", f.usersF)
	}
	return out, sc.Err()
}

// redactPassword keeps passwords out of the command a report records.
func redactPassword(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		switch {
		case i > 0 && (args[i-1] == "--password" || args[i-1] == "-password"):
			out[i] = "..."
		case strings.HasPrefix(a, "--password=") || strings.HasPrefix(a, "-password="):
			out[i] = a[:strings.IndexByte(a, '=')+1] + "..."
		default:
			out[i] = a
		}
	}
	return out
}

func printBenchSummary(w io.Writer, r *bench.Result) {
	fmt.Fprintf(w, "%s bench, %.1f s, %d CPUs, against %s\n\n", r.Kind, r.Seconds, r.Machine.CPUs, strings.Join(r.Targets, ", "))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tcount\terrors\tper s\tp50 ms\tp90 ms\tp99 ms\tmax ms\t")
	for _, o := range r.Ops {
		l := o.Latency
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", o.Op, o.Count, o.Errors, o.PerSecond, l.P50, l.P90, l.P99, l.Max)
	}
	tw.Flush()
	for _, fg := range r.Figures {
		fmt.Fprintf(w, "%s: %.6g %s\n", fg.Name, fg.Value, fg.Unit)
	}
	if r.Violations == 0 {
		fmt.Fprintln(w, "\nno invariant violations")
		return
	}
	fmt.Fprintf(w, "\n%d INVARIANT VIOLATIONS, first %d:\n", r.Violations, len(r.Examples))
	for _, e := range r.Examples {
		fmt.Fprintln(w, "  "+e)
	}
}
