package imapfront_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/imapfront"
	"github.com/rookery-mail/rookery/internal/testcluster"
)

// A session with INBOX selected stays connected while the backend holding
// INBOX dies and its in-sync replica takes over: it sees every message
// acknowledged before and after, new ones above every UID it knew.
func TestSelectedSessionSurvivesFailover(t *testing.T) {
	c, f := replicatedInbox(t)
	for i := range 3 {
		deliverOK(t, f.LMTPAddr, fmt.Sprintf("before-%d", i))
	}
	w := watchInbox(t, f.IMAPAddr)
	before := w.uidSearch(t)
	if len(before) != 3 {
		t.Fatalf("before the failover the client sees %v", before)
	}

	c.Backends[0].Stop()
	markDown(t, c, "b1")
	for i := range 2 {
		deliverOK(t, f.LMTPAddr, fmt.Sprintf("after-%d", i))
	}
	checkAscending(t, before, w.awaitUIDs(t, 5), 5)
	w.checkSubjects(t, "before-0", "before-1", "before-2", "after-0", "after-1")
}

// The same, with the session in IDLE when the backend dies: it keeps
// idling on the new primary and hears of the new mail there.
func TestIdleSurvivesFailover(t *testing.T) {
	c, f := replicatedInbox(t)
	for i := range 2 {
		deliverOK(t, f.LMTPAddr, fmt.Sprintf("before-%d", i))
	}
	w := watchInbox(t, f.IMAPAddr)
	before := w.uidSearch(t)

	idle, err := w.c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	c.Backends[0].Stop()
	markDown(t, c, "b1")
	deliverOK(t, f.LMTPAddr, "after-0")
	w.awaitExists(t, 3)
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatalf("IDLE after the failover: %v", err)
	}
	checkAscending(t, before, w.awaitUIDs(t, 3), 3)
	w.checkSubjects(t, "before-0", "before-1", "after-0")
}

// A frozen backend sends no reset: a session blocked on it (in IDLE, or
// waiting for a command's answer) moves to the new primary as soon as the
// directory marks the backend down, not after a TCP or command timeout.
func TestFrozenBackendSwitchesOnDirectoryChange(t *testing.T) {
	for _, inIdle := range []bool{true, false} {
		t.Run(fmt.Sprintf("idle=%v", inIdle), func(t *testing.T) {
			c, f := replicatedInbox(t)
			deliverOK(t, f.LMTPAddr, "before-0")
			gates := map[string]*gate{}
			addr := frontendWithGates(t, c, gates)
			w := watchInbox(t, addr)
			before := w.uidSearch(t)

			var (
				idle   *imapclient.IdleCommand
				search *imapclient.SearchCommand
				err    error
			)
			if inIdle {
				if idle, err = w.c.Idle(); err != nil {
					t.Fatal(err)
				}
				gates[c.Backends[0].IMAPAddr].freeze()
			} else {
				gates[c.Backends[0].IMAPAddr].freeze()
				search = w.c.UIDSearch(&imap.SearchCriteria{}, nil)
			}
			marked := time.Now()
			index := markDown(t, c, "b1")
			// b1 is alive here: until its own directory copy knows, its
			// LMTP server would still take deliveries as the primary.
			if err := c.Backends[0].Node.WaitApplied(testcluster.Ctx(t), index); err != nil {
				t.Fatal(err)
			}
			deliverOK(t, f.LMTPAddr, "after-0")
			if inIdle {
				w.awaitExists(t, 2)
				idle.Close()
				if err := idle.Wait(); err != nil {
					t.Fatal(err)
				}
			} else if _, err := search.Wait(); err != nil {
				t.Fatalf("UID SEARCH in flight on the frozen backend: %v", err)
			}
			t.Logf("switched %v after the directory marked the backend down", time.Since(marked).Round(time.Millisecond))
			if d := time.Since(marked); d > 20*time.Second {
				t.Errorf("the switch took %v", d)
			}
			checkAscending(t, before, w.awaitUIDs(t, 2), 2)
		})
	}
}

// A mailbox deleted and created again under the same name has another
// UIDVALIDITY: a session that had the old one selected gets BYE instead
// of a view that would lie.
func TestReplacedMailboxEndsSession(t *testing.T) {
	c, f := replicatedInbox(t)
	c.Create(0, "user/alice/Archive")
	w := watch(t, f.IMAPAddr, "Archive")
	w.uidSearch(t)

	other := dialLogin(t, f.IMAPAddr, nil)
	if err := other.Delete("Archive").Wait(); err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	if err := other.Create("Archive", nil).Wait(); err != nil {
		t.Fatalf("CREATE: %v", err)
	}
	err := w.c.Noop().Wait()
	if err == nil {
		t.Fatal("NOOP on a replaced mailbox succeeded")
	}
	if !w.sawBye() {
		t.Fatalf("no BYE; NOOP said %v", err)
	}
}

// replicatedInbox starts two backends with replication factor 2 and alice's
// INBOX on b1, in sync with its replica on b2.
func replicatedInbox(t *testing.T) (*testcluster.Cluster, *testcluster.Frontend) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1, ReplicationFactor: 2})
	c.AddUser("alice", 0)
	testcluster.WaitFor(t, "b2 in sync with b1", func() bool {
		return readAt(t, c.Voters[0], directory.Synced).InSync("b1", "b2")
	})
	return c, c.Frontends[0]
}

// readAt is a read of node's directory at level that must succeed.
func readAt(t *testing.T, node *directory.Node, level directory.Level) *fsm.View {
	t.Helper()
	v, err := node.Read(testcluster.Ctx(t), level)
	if err != nil {
		t.Fatalf("%s read of the directory: %v", level, err)
	}
	return v
}

// markDown is what the leader applies when gossip declares backend dead:
// its mailboxes fail over to their in-sync replicas. Tests apply it
// without waiting for gossip.
func markDown(t *testing.T, c *testcluster.Cluster, backend string) (index uint64) {
	t.Helper()
	return apply(t, c, fsm.SetBackendState{ID: backend, State: fsm.BackendDown, At: time.Now().UnixNano()})
}

func apply(t *testing.T, c *testcluster.Cluster, cmd fsm.Command) (index uint64) {
	t.Helper()
	res, err := c.Voters[0].Apply(testcluster.Ctx(t), cmd)
	if err == nil {
		err = res.Err
	}
	if err == nil {
		err = c.Voters[0].WaitApplied(testcluster.Ctx(t), res.Index)
	}
	if err != nil {
		t.Fatalf("apply %T: %v", cmd, err)
	}
	mb, ok := readAt(t, c.Voters[0], directory.Local).Mailbox(fsm.Inbox("alice"))
	if !ok || mb.Primary.Backend != "b2" {
		t.Fatalf("INBOX after %T: %+v", cmd, mb)
	}
	return res.Index
}

// deliverOK delivers a message with Subject subject to alice over LMTP,
// trying again after a temporary failure as an MTA would.
func deliverOK(t *testing.T, addr, subject string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := lmtpDeliver(addr, subject)
		if err == nil {
			return
		}
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code/100 != 4 || time.Now().After(deadline) {
			t.Fatalf("deliver %s: %v", subject, err)
		}
		time.Sleep(50 * time.Millisecond) // an MTA's retry delay
	}
}

func lmtpDeliver(addr, subject string) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	lc := smtp.NewClientLMTP(conn)
	defer lc.Close()
	err = lc.Hello("test.example")
	if err == nil {
		err = lc.Mail("sender@example.org", nil)
	}
	if err == nil {
		err = lc.Rcpt("alice@example.org", nil)
	}
	var wc io.WriteCloser
	if err == nil {
		wc, err = lc.Data()
	}
	if err == nil {
		_, err = fmt.Fprintf(wc, "From: s@example.org\r\nTo: alice@example.org\r\nSubject: %s\r\n\r\nbody of %s\r\n", subject, subject)
	}
	if err == nil {
		err = wc.Close()
	}
	return err
}

// watcher is one IMAP session with a mailbox selected, and what the
// server told it unasked.
type watcher struct {
	c      *imapclient.Client
	mu     sync.Mutex
	exists uint32
	bye    bool
}

func watchInbox(t *testing.T, addr string) *watcher { return watch(t, addr, "INBOX") }

func watch(t *testing.T, addr, mailbox string) *watcher {
	t.Helper()
	w := &watcher{}
	w.c = dialLogin(t, addr, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					w.mu.Lock()
					w.exists = *d.NumMessages
					w.mu.Unlock()
				}
			},
		},
		DebugWriter: byeSpotter{w},
	})
	if _, err := w.c.Select(mailbox, nil).Wait(); err != nil {
		t.Fatalf("SELECT %s: %v", mailbox, err)
	}
	return w
}

// byeSpotter reads the client's debug copy of the server's lines for BYE.
type byeSpotter struct{ w *watcher }

func (b byeSpotter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "* BYE") {
		b.w.mu.Lock()
		b.w.bye = true
		b.w.mu.Unlock()
	}
	return len(p), nil
}

func (w *watcher) sawBye() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bye
}

func dialLogin(t *testing.T, addr string, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(90 * time.Second))
	c := imapclient.New(conn, opts)
	t.Cleanup(func() { c.Close() })
	if err := c.Login("alice", testcluster.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

func (w *watcher) uidSearch(t *testing.T) []imap.UID {
	t.Helper()
	data, err := w.c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		t.Fatalf("UID SEARCH: %v", err)
	}
	return data.AllUIDs()
}

// awaitUIDs searches until n messages are there: a backend answers a
// search from the session's view and announces new mail after it.
func (w *watcher) awaitUIDs(t *testing.T, n int) []imap.UID {
	t.Helper()
	var uids []imap.UID
	testcluster.WaitFor(t, fmt.Sprintf("%d messages", n), func() bool {
		uids = w.uidSearch(t)
		return len(uids) >= n
	})
	return uids
}

func (w *watcher) awaitExists(t *testing.T, n uint32) {
	t.Helper()
	testcluster.WaitFor(t, fmt.Sprintf("EXISTS %d", n), func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.exists >= n
	})
}

// checkSubjects fetches every message's subject in UID order.
func (w *watcher) checkSubjects(t *testing.T, want ...string) {
	t.Helper()
	var all imap.SeqSet
	all.AddRange(1, 0)
	msgs, err := w.c.Fetch(all, &imap.FetchOptions{UID: true, Envelope: true}).Collect()
	if err != nil {
		t.Fatalf("FETCH: %v", err)
	}
	slices.SortFunc(msgs, func(a, b *imapclient.FetchMessageBuffer) int { return int(a.UID) - int(b.UID) })
	var got []string
	for _, m := range msgs {
		got = append(got, m.Envelope.Subject)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("subjects by UID: %v, want %v", got, want)
	}
}

// checkAscending checks that after holds every UID of before, then only
// UIDs above them, n in all.
func checkAscending(t *testing.T, before, after []imap.UID, n int) {
	t.Helper()
	if len(after) != n || !slices.IsSorted(after) || !slices.Equal(after[:len(before)], before) {
		t.Fatalf("UIDs before %v, after %v (want %d, the old ones first)", before, after, n)
	}
	for _, u := range after[len(before):] {
		if u <= slices.Max(before) {
			t.Fatalf("new UID %d is not above %v", u, before)
		}
	}
}

// gate stops a proxied connection's bytes while frozen, as a stopped
// process would: the connection stays open and nothing answers.
type gate struct {
	mu     sync.Mutex
	cond   *sync.Cond
	frozen bool
}

func newGate() *gate {
	g := &gate{}
	g.cond = sync.NewCond(&g.mu)
	return g
}

func (g *gate) freeze() { g.set(true) }

func (g *gate) set(frozen bool) {
	g.mu.Lock()
	g.frozen = frozen
	g.mu.Unlock()
	g.cond.Broadcast()
}

func (g *gate) pass() {
	g.mu.Lock()
	for g.frozen {
		g.cond.Wait()
	}
	g.mu.Unlock()
}

// frontendWithGates serves another IMAP frontend on c's frontend node whose
// connections to each backend go through a TCP proxy with a gate.
func frontendWithGates(t *testing.T, c *testcluster.Cluster, gates map[string]*gate) string {
	t.Helper()
	route := map[string]string{}
	for _, b := range c.Backends {
		g := newGate()
		gates[b.IMAPAddr] = g
		route[b.IMAPAddr] = gatedProxy(t, b.IMAPAddr, g)
	}
	cfg := imapfront.Default()
	cfg.Directory = c.Frontends[0].Node
	cfg.ClusterSecret = testcluster.Secret
	cfg.AllowPlaintextLogin = true
	cfg.Logger = testcluster.Logger()
	cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, route[addr])
	}
	srv, err := imapfront.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); ln.Close(); <-done })
	return ln.Addr().String()
}

// gatedProxy forwards connections to target through g until the test ends.
func gatedProxy(t *testing.T, target string, g *gate) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		g.set(false)
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); pipe(in, out, g) }()
			go func() { defer wg.Done(); pipe(out, in, g) }()
		}
	}()
	return ln.Addr().String()
}

// pipe copies src to dst through g; either side ending closes both.
func pipe(dst, src net.Conn, g *gate) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		g.pass()
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
