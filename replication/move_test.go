package replication_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/clusterapi"
	"github.com/rookery-mail/rookery/internal/testcluster"
	"github.com/rookery-mail/rookery/replication"
	"github.com/rookery-mail/rookery/spool"
)

// fill appends n messages of about size bytes to mailbox id straight into
// backend b's store, through its committer and acknowledgement path (as
// the backend's LMTP and IMAP servers do), from many writers at once so
// that group commit makes it quick. Message ids are prefix0..prefix(n-1).
func fill(t testing.TB, b *testcluster.Backend, id uint64, n, size int, prefix string) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				msg := sizedMessage(fmt.Sprintf("%s%d", prefix, i), size)
				if _, err := b.Store.Append(context.Background(), spool.AppendRequest{Mailbox: id, Body: strings.NewReader(msg)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("fill: %v", err)
	}
}

// seededInbox starts two backends (b1, b2) and a frontend, adds alice,
// whose INBOX is on b1, and fills it with seeded messages of about size
// bytes, seed-0 to seed-(seeded-1).
func seededInbox(t *testing.T, seeded, size int) (*testcluster.Cluster, *fsm.Mailbox) {
	t.Helper()
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1})
	c.AddUser("alice", 0)
	mb := mailbox(t, c, fsm.Inbox("alice"))
	fill(t, c.Backends[0], mb.ID, seeded, size, "seed-")
	return c, mb
}

func sizedMessage(msgID string, size int) string {
	m := testMessage(msgID)
	if pad := size - len(m); pad > 0 {
		line := strings.Repeat("x", 76) + "\r\n"
		m += strings.Repeat(line, pad/len(line))
	}
	return m
}

// idleWatcher is an IMAP client that keeps INBOX selected through a
// frontend and IDLEs, fetching what each EXISTS announces. It checks that
// every UID it learns is above every UID it knew, and remembers which
// message each UID named. It reconnects when its session ends.
type idleWatcher struct {
	mu         sync.Mutex
	uidv       uint32
	known      map[imap.UID]string // UID -> Message-Id
	present    map[imap.UID]bool   // the UIDs the session holds, as last learnt
	below      map[imap.UID]bool   // UIDs reported as appearing below a known one
	maxSeen    imap.UID
	violations []string
	sessions   int
	idles      int
}

func (w *idleWatcher) run(addr string, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		if err := w.session(addr, stop); err != nil {
			time.Sleep(50 * time.Millisecond) // back off before redialling
		}
	}
}

func (w *idleWatcher) session(addr string, stop <-chan struct{}) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	exists := make(chan struct{}, 1)
	c := imapclient.New(conn, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				select {
				case exists <- struct{}{}:
				default:
				}
			}
		},
	}})
	defer c.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	if err := c.Login("alice", testcluster.Password).Wait(); err != nil {
		return err
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.sessions++
	w.mu.Unlock()
	for {
		conn.SetDeadline(time.Now().Add(60 * time.Second))
		if err := w.learn(c, sel.UIDValidity); err != nil {
			return err
		}
		idle, err := c.Idle()
		if err != nil {
			return err
		}
		w.mu.Lock()
		w.idles++
		w.mu.Unlock()
		select {
		case <-stop:
			idle.Close()
			idle.Wait()
			return nil
		case <-exists:
		case <-time.After(2 * time.Second): // a client's periodic re-IDLE
		}
		if err := idle.Close(); err != nil {
			return err
		}
		if err := idle.Wait(); err != nil {
			return err
		}
	}
}

// learn fetches the messages above the highest UID known.
func (w *idleWatcher) learn(c *imapclient.Client, uidv uint32) error {
	w.mu.Lock()
	from := w.maxSeen + 1
	w.mu.Unlock()
	set := imap.UIDSet{imap.UIDRange{Start: from, Stop: 0}}
	msgs, err := c.Fetch(set, &imap.FetchOptions{UID: true, Envelope: true}).Collect()
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.uidv == 0 {
		w.uidv = uidv
	} else if w.uidv != uidv {
		w.violations = append(w.violations, fmt.Sprintf("uidvalidity %d became %d", w.uidv, uidv))
	}
	for _, m := range msgs {
		if m.UID < from {
			continue // "n:*" names the last message even below n
		}
		w.known[m.UID] = messageID(m.Envelope)
		w.present[m.UID] = true
		w.maxSeen = max(w.maxSeen, m.UID)
	}
	return w.findBelow(c)
}

// findBelow looks for messages that appeared below the highest UID known,
// which "n:*" cannot find: when the session's message count differs from
// the count of messages known, it lists every UID. w.mu is held.
func (w *idleWatcher) findBelow(c *imapclient.Client) error {
	if mb := c.Mailbox(); mb == nil || int(mb.NumMessages) == len(w.present) {
		return nil
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		return err
	}
	w.present = make(map[imap.UID]bool)
	for _, u := range data.AllUIDs() {
		w.present[u] = true
		if _, ok := w.known[u]; !ok && u < w.maxSeen && !w.below[u] {
			w.below[u] = true
			w.violations = append(w.violations, fmt.Sprintf("new uid %d appeared below %d", u, w.maxSeen))
		}
	}
	return nil
}

func messageID(env *imap.Envelope) string {
	return strings.TrimSuffix(strings.Trim(env.MessageID, "<>"), "@test")
}

// check looks at the mailbox as a client that reconnects now: every UID
// the watcher knew names the same message, and every UID it did not know
// is above all it knew.
func (w *idleWatcher) check(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	c := imapclient.New(conn, nil)
	defer c.Close()
	if err := c.Login("alice", testcluster.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if sel.UIDValidity != w.uidv {
		t.Errorf("uidvalidity %d after the move, %d before", sel.UIDValidity, w.uidv)
	}
	for _, m := range msgs {
		id := messageID(m.Envelope)
		if was, ok := w.known[m.UID]; ok {
			if was != id {
				t.Errorf("uid %d named %s, now names %s", m.UID, was, id)
			}
			continue
		}
		if m.UID < w.maxSeen {
			t.Errorf("after the move, new uid %d (%s) below %d", m.UID, id, w.maxSeen)
		}
	}
}

// deliveriesTo runs n LMTP delivery loops through addr until stop.
func deliveriesTo(addr string, a *acks, stop <-chan struct{}, n int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() { defer wg.Done(); lmtpLoad(addr, a, stop) }()
	}
	return &wg
}

// everyAckOnce fails unless every acknowledged message (and every seeded
// one) is held exactly once by mailbox id on backend b.
func everyAckOnce(t *testing.T, b *testcluster.Backend, id uint64, a *acks, seeded int, prefix string) int {
	t.Helper()
	count := make(map[string]int)
	for _, msgID := range mailboxOn(t, b, id) {
		count[msgID]++
	}
	for i := range seeded {
		if count[fmt.Sprintf("%s%d", prefix, i)] != 1 {
			t.Errorf("seeded message %s%d held %d times", prefix, i, count[fmt.Sprintf("%s%d", prefix, i)])
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for msgID := range a.ids {
		if count[msgID] != 1 {
			t.Errorf("acknowledged message %s held %d times on %s", msgID, count[msgID], b.ID)
		}
	}
	for msgID, n := range count {
		if n > 1 {
			t.Errorf("message %s held %d times", msgID, n)
		}
	}
	return len(a.ids)
}

// A 10,000-message INBOX moves from b1 to b2 while a client IDLEs on it
// through the frontend and LMTP keeps delivering to it: every message
// acknowledged (and every one there before) is on b2 exactly once, the
// client's UIDs only ascend, and b1's copy is gone.
func TestMoveUnderLoad(t *testing.T) {
	const seeded = 10000
	start := time.Now()
	c, mb := seededInbox(t, seeded, 4096)
	b1, b2 := c.Backends[0], c.Backends[1]
	t.Logf("started the cluster and seeded %d messages in %v", seeded, time.Since(start).Round(time.Millisecond))

	f := c.Frontends[0]
	a := &acks{ids: make(map[string]time.Time)}
	w := &idleWatcher{known: make(map[imap.UID]string), present: make(map[imap.UID]bool), below: make(map[imap.UID]bool)}
	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Add(1)
	go func() { defer watch.Done(); w.run(f.IMAPAddr, stop) }()
	load := deliveriesTo(f.LMTPAddr, a, stop, 2)
	stopAll := sync.OnceFunc(func() { close(stop); load.Wait(); watch.Wait() })
	t.Cleanup(stopAll)
	testcluster.WaitFor(t, "the watcher to see the seeded mail", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.known) >= seeded
	})
	testcluster.WaitFor(t, "deliveries before the move", func() bool { n, _ := a.since(time.Time{}); return n >= 20 })

	var reports []replication.MoveProgress
	movedAt := time.Now()
	after, err := b1.Role.Replication().Move(testcluster.Ctx(t), fsm.Inbox("alice"), "b2", func(p replication.MoveProgress) {
		reports = append(reports, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(movedAt)
	if after.Primary != (fsm.Copy{Backend: "b2", Slot: 1}) || after.State != fsm.Active {
		t.Fatalf("after the move: %+v", after)
	}
	switched := time.Now()
	testcluster.WaitFor(t, "deliveries after the move", func() bool { n, _ := a.since(switched); return n >= 20 })
	stopAll()

	acked := everyAckOnce(t, b2, mb.ID, a, seeded, "seed-")
	if _, err := b1.Store.Messages(mb.ID); !errors.Is(err, spool.ErrNoMailbox) {
		t.Errorf("b1 still holds the moved mailbox: %v", err)
	}
	w.check(t, f.IMAPAddr)
	w.mu.Lock()
	for _, v := range w.violations {
		t.Error(v)
	}
	sessions, idles := w.sessions, w.idles
	w.mu.Unlock()
	if err := b2.Store.Verify(); err != nil {
		t.Fatal(err)
	}
	last := reports[len(reports)-1]
	if last.Phase != replication.PhaseDone || last.Copied < seeded || last.Total < seeded {
		t.Fatalf("last report %+v", last)
	}
	t.Logf("moved %d messages in %v (%.0f msg/s), %d progress reports; %d acknowledged during the test (%d refused); watcher: %d sessions, %d IDLEs",
		last.Copied, took.Round(time.Millisecond), float64(last.Copied)/took.Seconds(), len(reports), acked, a.fail, sessions, idles)
}

// With every UID slot taken (a primary and a replica, stride 2), the
// target takes the replica's slot: the replica's copy goes and the source
// stays on as a replica in its own slot. Deliveries go on throughout.
func TestMoveFullStride(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 3, Frontends: 1, ReplicationFactor: 2})
	c.AddUser("alice", 0)
	mb := mailbox(t, c, fsm.Inbox("alice"))
	replica, target := c.Backends[1], c.Backends[2]
	if mb.Replicas[0].Backend != replica.ID {
		replica, target = target, replica
	}
	testcluster.WaitFor(t, "the replica in sync", func() bool { return inSync(c, "b1", replica.ID) })
	fill(t, c.Backends[0], mb.ID, 300, 2048, "seed-")

	a := &acks{ids: make(map[string]time.Time)}
	stop := make(chan struct{})
	load := deliveriesTo(c.Frontends[0].LMTPAddr, a, stop, 2)
	stopLoad := sync.OnceFunc(func() { close(stop); load.Wait() })
	t.Cleanup(stopLoad)
	testcluster.WaitFor(t, "deliveries before the move", func() bool { n, _ := a.since(time.Time{}); return n >= 10 })

	after, err := c.Backends[0].Role.Replication().Move(testcluster.Ctx(t), mb.Name, target.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := fsm.Copy{Backend: target.ID, Slot: mb.Replicas[0].Slot}
	if after.Primary != want || len(after.Replicas) != 1 || after.Replicas[0] != mb.Primary {
		t.Fatalf("after the move: primary %+v replicas %+v", after.Primary, after.Replicas)
	}
	switched := time.Now()
	testcluster.WaitFor(t, "deliveries after the move", func() bool { n, _ := a.since(switched); return n >= 10 })
	stopLoad()
	everyAckOnce(t, target, mb.ID, a, 300, "seed-")
	testcluster.WaitFor(t, "the dropped replica's copy to go", func() bool {
		_, err := replica.Store.Messages(mb.ID)
		return errors.Is(err, spool.ErrNoMailbox)
	})
	testcluster.WaitFor(t, "the old primary caught up as a replica", func() bool { return inSync(c, target.ID, "b1") })
	sameRecords(t, target, c.Backends[0], mb.ID)
	msgs, err := target.Store.Messages(mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[uint32]bool)
	for _, m := range msgs {
		if seen[m.UID] {
			t.Fatalf("uid %d twice", m.UID)
		}
		seen[m.UID] = true
	}
}

// Stopping the target half way through the copy aborts the move: the
// mailbox is Active on the source again, with all its mail, and takes
// deliveries.
func TestMoveAbortsWhenTargetStops(t *testing.T) {
	const seeded = 2000
	c, mb := seededInbox(t, seeded, 2048)
	b1, b2 := c.Backends[0], c.Backends[1]

	stopped := false
	var last replication.MoveProgress
	_, err := b1.Role.Replication().Move(testcluster.Ctx(t), mb.Name, "b2", func(p replication.MoveProgress) {
		last = p
		if !stopped && p.Copied > 0 && p.Copied < seeded {
			stopped = true
			b2.Stop()
		}
	})
	if err == nil {
		t.Fatal("move succeeded with its target stopped")
	}
	if !stopped || last.Phase != replication.PhaseAborted {
		t.Fatalf("stopped %v, last report %+v", stopped, last)
	}
	after := mailbox(t, c, mb.Name)
	if after.State != fsm.Active || after.Primary != mb.Primary {
		t.Fatalf("after the abort: %+v", after)
	}
	if _, moving := testcluster.Local(t, c.Voters[0]).MoveOf(mb.ID); moving {
		t.Fatal("move still recorded")
	}
	a := &acks{ids: make(map[string]time.Time)}
	for i := range 5 {
		id := fmt.Sprintf("after-%d", i)
		if code, err := deliver(c.Frontends[0].LMTPAddr, "alice@example.org", id); code != 250 {
			t.Fatalf("delivery after the abort: %d %v", code, err)
		}
		a.add(id)
	}
	everyAckOnce(t, b1, mb.ID, a, seeded, "seed-")
	if err := b1.Store.Verify(); err != nil {
		t.Fatal(err)
	}
	t.Logf("aborted at %d of %d: %s", last.Copied, last.Total, last.Error)
}

// A target that falls behind on the acknowledgement path does not abort
// the move: here its replication link is cut for one delivery made just
// before the switch, so that delivery is acknowledged without it and it
// leaves the path. Once the mailbox is Moving, the target is synced once
// more and becomes primary with every acknowledged message.
func TestMoveTargetBehindCatchesUpAtSwitch(t *testing.T) {
	const seeded = 50
	c, mb := seededInbox(t, seeded, 1024)
	b1, b2 := c.Backends[0], c.Backends[1]

	a := &acks{ids: make(map[string]time.Time)}
	behind := false
	after, err := b1.Role.Replication().Move(testcluster.Ctx(t), mb.Name, "b2", func(p replication.MoveProgress) {
		if p.Phase != replication.PhaseSwitching || behind {
			return
		}
		behind = true
		testcluster.Cut(b1, b2, true)
		defer testcluster.Cut(b1, b2, false)
		ds, err := b1.Store.Deliver(context.Background(), []uint64{mb.ID}, strings.NewReader(testMessage("late")), time.Now())
		if err == nil {
			err = ds[0].Err
		}
		if err != nil {
			t.Errorf("delivery with the target cut off: %v", err)
			return
		}
		a.add("late")
	})
	if err != nil {
		t.Fatalf("move: %v", err)
	}
	if !behind || after.Primary.Backend != "b2" {
		t.Fatalf("target cut %v; primary after the move %+v", behind, after.Primary)
	}
	everyAckOnce(t, b2, mb.ID, a, seeded, "seed-")
}

// The move route: asked of a backend that is not the primary, the call is
// passed on to the primary and its progress relayed; a move that cannot
// begin comes back as the fsm sentinel.
func TestMoveRoute(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2})
	c.AddUser("alice", 0)
	b1, b2 := c.Backends[0], c.Backends[1]
	mb := mailbox(t, c, fsm.Inbox("alice"))
	fill(t, b1, mb.ID, 1500, 1024, "seed-")

	var phases []string
	var copied int
	last, err := replication.MoveRemote(testcluster.Ctx(t), clusterapi.NewClient(testcluster.Secret, nil, false, nil), b2.Node.APIAddr(),
		replication.MoveRequest{Name: mb.Name, Target: "b2"}, func(p replication.MoveProgress) {
			if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
				phases = append(phases, p.Phase)
			}
			copied = p.Copied
		})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{replication.PhaseStarting, replication.PhaseCopying, replication.PhaseCatchingUp, replication.PhaseSwitching, replication.PhaseDone}
	if strings.Join(phases, ",") != strings.Join(want, ",") || copied != 1500 || last.Source != "b1" {
		t.Fatalf("phases %v, copied %d, last %+v", phases, copied, last)
	}
	if now := mailbox(t, c, mb.Name); now.Primary.Backend != "b2" {
		t.Fatalf("primary %+v", now.Primary)
	}
	everyAckOnce(t, b2, mb.ID, &acks{ids: map[string]time.Time{}}, 1500, "seed-")

	_, err = replication.MoveRemote(testcluster.Ctx(t), clusterapi.NewClient(testcluster.Secret, nil, false, nil), b1.Node.APIAddr(),
		replication.MoveRequest{Name: "user/alice/Nothing", Target: "b2"}, nil)
	if !errors.Is(err, fsm.ErrNoMailbox) {
		t.Fatalf("move of a missing mailbox: %v", err)
	}
	_, err = replication.MoveRemote(testcluster.Ctx(t), clusterapi.NewClient(testcluster.Secret, nil, false, nil), b1.Node.APIAddr(),
		replication.MoveRequest{Name: mb.Name, Target: "b2"}, nil)
	if !errors.Is(err, fsm.ErrInvalidCommand) {
		t.Fatalf("move to where it is: %v", err)
	}
}
