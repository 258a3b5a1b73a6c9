package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
	"github.com/rookery-mail/rookery/spool/backend"
)

// nodeArgsEnv makes the test binary run `rookery node` instead of tests:
// the crash test starts real node processes without building one.
const nodeArgsEnv = "ROOKERY_TEST_NODE_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(nodeArgsEnv); args != "" {
		os.Exit(run(strings.Split(args, "\x1f"), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// crashNode is one `rookery node` process with every role.
type crashNode struct {
	t       *testing.T
	cfgPath string
	cfg     Config
	cmd     *exec.Cmd
	log     *os.File
}

func newCrashNode(t *testing.T) *crashNode {
	dir := t.TempDir()
	c := Default()
	c.NodeID = "crash1"
	c.DataDir = filepath.Join(dir, "data")
	c.ClusterSecret = "crash-test-secret-0123456789"
	c.Directory.RaftAddr = freePort(t)
	c.Directory.APIAddr = freePort(t)
	c.Directory.GossipAddr = freePort(t)
	c.Directory.BootstrapExpect = 1
	c.Backend.IMAPAddr = freePort(t)
	c.Backend.LMTPAddr = freePort(t)
	c.Frontend.IMAPAddr = freePort(t)
	c.Frontend.LMTPAddr = freePort(t)
	c.Frontend.AllowPlaintextLogin = true
	toml := fmt.Sprintf(`node_id = %q
data_dir = %q
cluster_secret = %q
[directory]
raft_addr = %q
api_addr = %q
gossip_addr = %q
bootstrap_expect = 1
[backend]
imap_addr = %q
lmtp_addr = %q
[frontend]
imap_addr = %q
lmtp_addr = %q
allow_plaintext_login = true
`, c.NodeID, c.DataDir, c.ClusterSecret, c.Directory.RaftAddr, c.Directory.APIAddr, c.Directory.GossipAddr,
		c.Backend.IMAPAddr, c.Backend.LMTPAddr, c.Frontend.IMAPAddr, c.Frontend.LMTPAddr)
	path := filepath.Join(dir, "node.toml")
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "node.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	return &crashNode{t: t, cfgPath: path, cfg: c, log: log}
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs the node process and waits until its frontend and directory
// serve.
func (n *crashNode) start() {
	n.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), nodeArgsEnv+"="+strings.Join([]string{"node", "--config", n.cfgPath}, "\x1f"))
	cmd.Stdout, cmd.Stderr = n.log, n.log
	if err := cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.cmd = cmd
	n.t.Cleanup(func() {
		if n.cmd != nil && n.cmd.ProcessState == nil {
			n.cmd.Process.Kill()
			n.cmd.Wait()
		}
	})
	n.t.Cleanup(func() {
		if n.t.Failed() {
			b, _ := os.ReadFile(n.log.Name())
			n.t.Logf("node log:\n%s", tail(string(b), 40))
		}
	})
	waitUntil(n.t, "the node to serve IMAP and LMTP", func() bool {
		for _, a := range []string{n.cfg.Frontend.IMAPAddr, n.cfg.Frontend.LMTPAddr} {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err != nil {
				return false
			}
			c.Close()
		}
		return true
	})
}

func (n *crashNode) signal(sig syscall.Signal) {
	n.t.Helper()
	if err := n.cmd.Process.Signal(sig); err != nil {
		n.t.Fatal(err)
	}
	n.cmd.Wait()
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	return strings.Join(l[max(0, len(l)-lines):], "\n")
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type acked struct {
	uid     imap.UID // 0 for LMTP deliveries: the proxy does not report UIDs
	flagged bool
}

// TestSIGKILLDuringAppendsAndDeliveries kills a node process with SIGKILL
// while 4 IMAP appenders and 4 LMTP senders work on one mailbox, restarts
// it, and checks that every acknowledged message is there once, with the
// UID and flags it was acknowledged with; that UIDs ascend; and that the
// spool's index agrees with its files.
func TestSIGKILLDuringAppendsAndDeliveries(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes; skipped with -short")
	}
	n := newCrashNode(t)
	n.start()
	setupCrashUser(t, n)

	var mu sync.Mutex
	acks := map[string]acked{} // Message-Id -> what the server acknowledged
	record := func(id string, a acked) {
		mu.Lock()
		acks[id] = a
		mu.Unlock()
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acks)
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(2)
		go func() { defer wg.Done(); crashAppender(ctx, n.cfg.Frontend.IMAPAddr, w, record) }()
		go func() { defer wg.Done(); crashSender(ctx, n.cfg.Frontend.LMTPAddr, w, record) }()
	}
	waitUntil(t, "150 acknowledged messages", func() bool { return count() >= 150 })
	n.signal(syscall.SIGKILL)
	stop()
	wg.Wait()
	t.Logf("killed after %d acknowledged messages", count())

	n.start()
	got := fetchAll(t, n.cfg.Frontend.IMAPAddr)
	var last imap.UID
	seen := map[string]bool{}
	for _, m := range got {
		if m.uid <= last {
			t.Errorf("UID %d after %d: not ascending", m.uid, last)
		}
		last = m.uid
		if m.id != "" && seen[m.id] {
			t.Errorf("message %s is in the mailbox twice", m.id)
		}
		seen[m.id] = true
	}
	byID := map[string]fetched{}
	for _, m := range got {
		byID[m.id] = m
	}
	for id, a := range acks {
		m, ok := byID[id]
		switch {
		case !ok:
			t.Errorf("acknowledged message %s is lost", id)
		case a.uid != 0 && m.uid != a.uid:
			t.Errorf("message %s: UID %d, acknowledged as %d", id, m.uid, a.uid)
		case a.flagged != m.flagged:
			t.Errorf("message %s: \\Flagged %v, appended with %v", id, m.flagged, a.flagged)
		}
	}

	// The index agrees with the files once the node has stopped cleanly.
	n.signal(syscall.SIGTERM)
	st, err := spool.Open(spool.Options{Dir: filepath.Join(n.cfg.DataDir, "spool")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Verify(); err != nil {
		t.Fatalf("spool index and files disagree: %v", err)
	}
}

func setupCrashUser(t *testing.T, n *crashNode) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := directory.NewClient(n.cfg.Directory.APIAddr, n.cfg.ClusterSecret)
	hash, err := auth.HashPasswordCost("pw", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cl.Apply(ctx, fsm.UserAdd{Name: "crash", PasswordHash: hash, At: time.Now().UnixNano()})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backend.CreateRemote(ctx, n.cfg.Directory.APIAddr, n.cfg.ClusterSecret, backend.CreateRequest{Name: fsm.Inbox("crash")}); err != nil {
		t.Fatal(err)
	}
}

func crashMessage(id string) string {
	return "From: t@example.org\r\nSubject: crash\r\nMessage-Id: <" + id + ">\r\n\r\n" + strings.Repeat("x", 2000) + "\r\n"
}

// crashAppender appends until the context ends or the node dies,
// recording each message the server acknowledged with APPENDUID.
func crashAppender(ctx context.Context, addr string, w int, record func(string, acked)) {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return
	}
	defer c.Close()
	if err := c.Login("crash", "pw").Wait(); err != nil {
		return
	}
	for i := 0; ctx.Err() == nil; i++ {
		id := fmt.Sprintf("imap-%d-%d@crash", w, i)
		body := crashMessage(id)
		var opts imap.AppendOptions
		flagged := i%3 == 0
		if flagged {
			opts.Flags = []imap.Flag{imap.FlagFlagged}
		}
		cmd := c.Append("INBOX", int64(len(body)), &opts)
		if _, err := cmd.Write([]byte(body)); err != nil {
			return
		}
		if err := cmd.Close(); err != nil {
			return
		}
		data, err := cmd.Wait()
		if err != nil {
			return
		}
		record(id, acked{uid: data.UID, flagged: flagged})
	}
}

// crashSender delivers one message a transaction over LMTP until the
// context ends or the node dies, recording each 250.
func crashSender(ctx context.Context, addr string, w int, record func(string, acked)) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	cl := smtp.NewClientLMTP(conn)
	defer cl.Close()
	if err := cl.Hello("crash"); err != nil {
		return
	}
	for i := 0; ctx.Err() == nil; i++ {
		id := fmt.Sprintf("lmtp-%d-%d@crash", w, i)
		if err := cl.Mail("t@example.org", nil); err != nil {
			return
		}
		if err := cl.Rcpt("crash@example.org", nil); err != nil {
			return
		}
		wc, err := cl.Data()
		if err != nil {
			return
		}
		if _, err := wc.Write([]byte(crashMessage(id))); err != nil {
			return
		}
		if _, err := wc.CloseWithLMTPResponse(); err != nil {
			return
		}
		record(id, acked{})
	}
}

type fetched struct {
	uid     imap.UID
	id      string
	flagged bool
}

var messageIDRe = regexp.MustCompile(`(?i)Message-Id:\s*<([^>]+)>`)

func fetchAll(t *testing.T, addr string) []fetched {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("crash", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	hdr := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-Id"}, Peek: true}
	msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{hdr},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out []fetched
	for _, m := range msgs {
		f := fetched{uid: m.UID, flagged: slices.Contains(m.Flags, imap.FlagFlagged)}
		if sm := messageIDRe.FindSubmatch(m.FindBodySection(hdr)); sm != nil {
			f.id = string(sm[1])
		}
		out = append(out, f)
	}
	return out
}
