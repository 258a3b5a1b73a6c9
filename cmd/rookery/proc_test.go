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
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/backend"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/clusterapi"
	"github.com/rookery-mail/rookery/internal/freeport"
	"github.com/rookery-mail/rookery/internal/node"
)

// Real node processes for the crash and failover tests: the test binary
// runs itself as `rookery node`, so no separate build is needed.

// nodeArgsEnv makes the test binary run `rookery node` instead of tests.
const nodeArgsEnv = "ROOKERY_TEST_NODE_ARGS"

// procSecret is the cluster secret of every test node.
const procSecret = "crash-test-secret-0123456789"

// procPassword is the password of every test user.
const procPassword = "pw"

func TestMain(m *testing.M) {
	if args := os.Getenv(nodeArgsEnv); args != "" {
		os.Exit(run(strings.Split(args, "\x1f"), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// procNode is one `rookery node` process, every role by default.
type procNode struct {
	t       *testing.T
	cfgPath string
	cfg     Config
	cmd     *exec.Cmd
	log     *os.File
}

// newProcNode writes the config of a single-node cluster on fresh loopback
// ports; edit, when not nil, changes it before it is written.
func newProcNode(t *testing.T, id string, edit func(*Config)) *procNode {
	t.Helper()
	dir := t.TempDir()
	c := Default()
	c.NodeID = id
	c.DataDir = filepath.Join(dir, "data")
	c.ClusterSecret = procSecret
	c.Directory.RaftAddr = freePort(t)
	c.Directory.APIAddr = freePort(t)
	c.Directory.GossipAddr = freePort(t)
	c.Directory.BootstrapExpect = 1
	c.Backend.IMAPAddr = freePort(t)
	c.Backend.LMTPAddr = freePort(t)
	c.Frontend.IMAPAddr = freePort(t)
	c.Frontend.LMTPAddr = freePort(t)
	c.Frontend.AllowPlaintextLogin = true
	if edit != nil {
		edit(&c)
	}
	path := filepath.Join(dir, "node.toml")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	err = toml.NewEncoder(f).Encode(c)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
	log, err := os.Create(filepath.Join(dir, "node.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	return &procNode{t: t, cfgPath: path, cfg: c, log: log}
}

// freePort returns a loopback address whose port is free for TCP and UDP
// (gossip binds both), from below the ephemeral range and never twice.
func freePort(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Pick("127.0.0.1", true)
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// start runs the node process and waits until its frontend serves.
func (n *procNode) start() {
	n.t.Helper()
	n.launch()
	n.waitServing()
}

// launch runs the node process without waiting for it: the nodes of a
// fresh cluster serve only once enough of them have met.
func (n *procNode) launch() {
	n.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), nodeArgsEnv+"="+strings.Join([]string{"node", "--config", n.cfgPath}, "\x1f"))
	cmd.Stdout, cmd.Stderr = n.log, n.log
	if err := cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.cmd = cmd
	n.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		b, _ := os.ReadFile(n.log.Name())
		// Under -race the node processes are instrumented too, but their
		// reports go to their logs.
		if i := strings.Index(string(b), "WARNING: DATA RACE"); i >= 0 {
			n.t.Errorf("node %s: data race:\n%s", n.cfg.NodeID, b[i:min(len(b), i+4000)])
		}
		if n.t.Failed() {
			n.t.Logf("node %s log:\n%s", n.cfg.NodeID, tail(string(b), 40))
			if lines := sessionEvents(string(b)); lines != "" {
				n.t.Logf("node %s, IMAP sessions that lost or resumed a backend:\n%s", n.cfg.NodeID, lines)
			}
		}
	})
}

// waitServing waits until the node's frontend accepts IMAP and LMTP
// connections, which it does once the directory has a leader.
func (n *procNode) waitServing() {
	n.t.Helper()
	waitUntil(n.t, n.cfg.NodeID+" to serve IMAP and LMTP", func() bool {
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

func (n *procNode) signal(sig syscall.Signal) {
	n.t.Helper()
	if err := n.cmd.Process.Signal(sig); err != nil {
		n.t.Fatal(err)
	}
	n.cmd.Wait()
}

// kill ends the process with SIGKILL.
func (n *procNode) kill() { n.signal(syscall.SIGKILL) }

// freeze stops the process with SIGSTOP and leaves it stopped: the kernel
// keeps its sockets open, so peers see a node that never answers. The
// test's cleanup kills it.
func (n *procNode) freeze() {
	n.t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		n.t.Fatal(err)
	}
}

// sessionEvents picks from a node's log what its IMAP frontend said of
// sessions whose backend went away, wherever in the log it is: a watcher
// that had to log in again is explained there.
func sessionEvents(log string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		for _, m := range []string{"selected mailbox lost", "backend connection lost", "selected mailbox resumed", "directory read before reselecting failed",
			"learning new UIDs failed", "client view reconciled", "selected backend lost",
			"backend answered FETCH (UID) in part; asking again later", "backend did not answer FETCH (UID); asking again later"} {
			if strings.Contains(l, `"msg":"`+m+`"`) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out[max(0, len(out)-40):], "\n")
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

// localView is n's local directory copy as it is, for a test that polls
// it.
func localView(t *testing.T, n *node.Node) *fsm.View {
	t.Helper()
	v, err := n.Directory().Read(context.Background(), directory.Local)
	if err != nil {
		t.Fatalf("local directory read: %v", err)
	}
	return v
}

// addProcUser adds user (password procPassword) through the directory API
// at apiAddr and creates its INBOX on the backend of that node, returning
// the directory entry the create made.
func addProcUser(t *testing.T, apiAddr, user string) *fsm.Mailbox {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := directory.NewClient(apiAddr, procSecret)
	hash, err := auth.HashPasswordCost(procPassword, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cl.Apply(ctx, fsm.UserAdd{Name: user, PasswordHash: hash, At: time.Now().UnixNano()})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	mb, err := backend.CreateRemote(ctx, clusterapi.NewClient(procSecret, nil, false, nil), apiAddr, backend.CreateRequest{Name: fsm.Inbox(user)})
	if err != nil {
		t.Fatal(err)
	}
	return mb
}

// acked is what the server acknowledged for one message, and when.
type acked struct {
	uid     imap.UID // 0 for LMTP deliveries: the proxy does not report UIDs
	flagged bool
	begun   time.Time // the transaction started
	at      time.Time // the acknowledgement arrived
}

// loadMessage is a 2 KB message in lines of 80 octets: SMTP allows lines
// of at most 1000.
func loadMessage(id string) string {
	return "From: t@example.org\r\nSubject: load\r\nMessage-Id: <" + id + ">\r\n\r\n" +
		strings.Repeat(strings.Repeat("x", 78)+"\r\n", 25)
}

// idSequence names messages prefix-0@load, prefix-1@load, ... across every
// session of one worker, so that a reconnecting worker never reuses a name.
func idSequence(prefix string) func() string {
	i := 0
	return func() string {
		i++
		return fmt.Sprintf("%s-%d@load", prefix, i-1)
	}
}

// commandTimeout bounds each transaction of the load, so that a hung
// server fails the test by its checks instead of hanging it.
const commandTimeout = 20 * time.Second

// watchdog closes conn unless stop is called within commandTimeout: the
// client libraries set their own read deadlines (imapclient none at all
// between responses), which would override one set on conn. stop returns
// err, marked when the watchdog had closed the connection.
func watchdog(conn net.Conn) (stop func(err error) error) {
	timer := time.AfterFunc(commandTimeout, func() { conn.Close() })
	return func(err error) error {
		if !timer.Stop() && err != nil {
			return fmt.Errorf("%w: %w", errNoAnswer, err)
		}
		return err
	}
}

var errNoAnswer = fmt.Errorf("no answer within %v", commandTimeout)

// appendSession logs in as user and appends until the context ends or a
// command fails, recording each message acknowledged with APPENDUID. Every
// third message is flagged. It returns the failure.
func appendSession(ctx context.Context, addr, user string, nextID func() string, record func(string, acked)) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	c := imapclient.New(conn, nil)
	defer c.Close()
	stop := watchdog(conn)
	if err := stop(c.Login(user, procPassword).Wait()); err != nil {
		return err
	}
	for i := 0; ctx.Err() == nil; i++ {
		id := nextID()
		body := loadMessage(id)
		flagged := i%3 == 0
		var opts imap.AppendOptions
		if flagged {
			opts.Flags = []imap.Flag{imap.FlagFlagged}
		}
		begun := time.Now()
		stop := watchdog(conn)
		data, err := appendOne(c, body, &opts)
		if err := stop(err); err != nil {
			return err
		}
		record(id, acked{uid: data.UID, flagged: flagged, begun: begun, at: time.Now()})
	}
	return nil
}

func appendOne(c *imapclient.Client, body string, opts *imap.AppendOptions) (*imap.AppendData, error) {
	cmd := c.Append("INBOX", int64(len(body)), opts)
	if _, err := cmd.Write([]byte(body)); err != nil {
		return nil, err
	}
	if err := cmd.Close(); err != nil {
		return nil, err
	}
	return cmd.Wait()
}

// lmtpSession delivers one message a transaction to user@example.org
// until the context ends or a transaction fails, recording each 250. It
// returns the failure.
func lmtpSession(ctx context.Context, addr, user string, nextID func() string, record func(string, acked)) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	cl := smtp.NewClientLMTP(conn)
	defer cl.Close()
	stop := watchdog(conn)
	if err := stop(cl.Hello("load")); err != nil {
		return err
	}
	for ctx.Err() == nil {
		id := nextID()
		begun := time.Now()
		stop := watchdog(conn)
		if err := stop(deliverOne(cl, user+"@example.org", loadMessage(id))); err != nil {
			return err
		}
		record(id, acked{begun: begun, at: time.Now()})
	}
	return nil
}

// deliverOne is one LMTP transaction with one recipient; a reply other
// than 250 is an error.
func deliverOne(cl *smtp.Client, rcpt, body string) error {
	if err := cl.Mail("t@example.org", nil); err != nil {
		return err
	}
	if err := cl.Rcpt(rcpt, nil); err != nil {
		return err
	}
	wc, err := cl.Data()
	if err != nil {
		return err
	}
	if _, err := wc.Write([]byte(body)); err != nil {
		return err
	}
	_, err = wc.CloseWithLMTPResponse()
	return err
}

type fetched struct {
	uid     imap.UID
	id      string
	flagged bool
}

var messageIDRe = regexp.MustCompile(`(?i)Message-Id:\s*<([^>]+)>`)

// fetchAll returns every message of user's INBOX in UID order.
func fetchAll(t *testing.T, addr, user string) []fetched {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(conn, nil)
	defer c.Close()
	defer time.AfterFunc(time.Minute, func() { conn.Close() }).Stop()
	if err := c.Login(user, procPassword).Wait(); err != nil {
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

// checkMailbox reports every acknowledged message missing from got, held
// twice, or held with another UID or flags than acknowledged, and any UID
// out of order.
func checkMailbox(t *testing.T, got []fetched, acks map[string]acked) {
	t.Helper()
	var last imap.UID
	byID := map[string]fetched{}
	for _, m := range got {
		if m.uid <= last {
			t.Errorf("UID %d after %d: not ascending", m.uid, last)
		}
		last = m.uid
		if _, dup := byID[m.id]; dup && m.id != "" {
			t.Errorf("message %s is in the mailbox twice", m.id)
		}
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
}
