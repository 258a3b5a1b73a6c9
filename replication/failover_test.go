package replication_test

import (
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/testcluster"
	"github.com/rookery-mail/rookery/internal/uidorder"
)

// acks records which message ids were acknowledged, and when.
type acks struct {
	mu   sync.Mutex
	ids  map[string]time.Time
	seq  int
	fail int
}

func (a *acks) next(prefix string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	return fmt.Sprintf("%s%d", prefix, a.seq)
}

func (a *acks) add(id string) {
	a.mu.Lock()
	a.ids[id] = time.Now()
	a.mu.Unlock()
}

func (a *acks) failed() {
	a.mu.Lock()
	a.fail++
	a.mu.Unlock()
}

// since counts acknowledgements after t and returns the first one's time.
func (a *acks) since(t time.Time) (int, time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, first := 0, time.Time{}
	for _, at := range a.ids {
		if at.After(t) {
			n++
			if first.IsZero() || at.Before(first) {
				first = at
			}
		}
	}
	return n, first
}

// longestPause is the longest time between consecutive acknowledgements
// that ends after t: how long deliveries stopped around a failover.
func (a *acks) longestPause(t time.Time) time.Duration {
	a.mu.Lock()
	times := make([]time.Time, 0, len(a.ids))
	for _, at := range a.ids {
		times = append(times, at)
	}
	a.mu.Unlock()
	slices.SortFunc(times, func(x, y time.Time) int { return x.Compare(y) })
	var longest time.Duration
	for i := 1; i < len(times); i++ {
		if times[i].After(t) {
			longest = max(longest, times[i].Sub(times[i-1]))
		}
	}
	return longest
}

// imapSession dials the frontend and logs in as alice with INBOX selected.
func imapSession(addr string) (*imapclient.Client, net.Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	c := imapclient.New(conn, nil)
	if err := c.Login("alice", testcluster.Password).Wait(); err != nil {
		c.Close()
		return nil, nil, err
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, conn, nil
}

// imapLoop runs step over an IMAP session until stop, dialling a new
// session when there is none and dropping it when step fails. connected is
// told of each new session; dialFailed of each failed dial.
func imapLoop(addr string, stop <-chan struct{}, connected, dialFailed func(), step func(*imapclient.Client) error) {
	var c *imapclient.Client
	var conn net.Conn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for {
		select {
		case <-stop:
			return
		default:
		}
		if c == nil {
			var err error
			if c, conn, err = imapSession(addr); err != nil {
				c = nil
				dialFailed()
				time.Sleep(20 * time.Millisecond) // back off before redialling
				continue
			}
			connected()
		}
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		if err := step(c); err != nil {
			c.Close()
			c = nil
		}
	}
}

// appendLoad APPENDs through the frontend until stop, reconnecting after
// any failure.
func appendLoad(addr string, a *acks, stop <-chan struct{}) {
	imapLoop(addr, stop, func() {}, a.failed, func(c *imapclient.Client) error {
		id := a.next("imap-")
		body := testMessage(id)
		cmd := c.Append("INBOX", int64(len(body)), nil)
		cmd.Write([]byte(body))
		cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			a.failed()
			return err
		}
		a.add(id)
		return nil
	})
}

func lmtpLoad(addr string, a *acks, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		id := a.next("lmtp-")
		if code, _ := deliver(addr, "alice@example.org", id); code == 250 {
			a.add(id)
		} else {
			a.failed()
			time.Sleep(20 * time.Millisecond) // a 4xx asks the MTA to retry later
		}
	}
}

// uidWatcher is a client that keeps INBOX selected (reconnecting when the
// connection breaks) and checks that every UID it learns is above every
// UID it learnt before, under one uidvalidity.
type uidWatcher struct {
	uidorder.Order
	mu         sync.Mutex
	reconnects int
}

func (w *uidWatcher) run(addr string, stop <-chan struct{}) {
	connected := func() {
		w.mu.Lock()
		w.reconnects++
		w.mu.Unlock()
	}
	imapLoop(addr, stop, connected, func() {}, func(c *imapclient.Client) error {
		sel, err := c.Select("INBOX", nil).Wait()
		if err != nil {
			return err
		}
		data, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
		if err != nil {
			return err
		}
		w.Observe(sel.UIDValidity, data.AllUIDs())
		return nil
	})
}

// Kill the primary under continuous LMTP and APPEND load: the in-sync
// replica takes over, every acknowledged message is on it, a client that
// stays (or reconnects) sees UIDs only ascend, and deliveries resume.
func TestFailoverUnderLoad(t *testing.T) {
	c, mb := replicatedInbox(t)
	b1, b2 := c.Backends[0], c.Backends[1]

	a := &acks{ids: make(map[string]time.Time)}
	w := &uidWatcher{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	f := c.Frontends[0]
	for _, load := range []func(){
		func() { lmtpLoad(f.LMTPAddr, a, stop) },
		func() { lmtpLoad(f.LMTPAddr, a, stop) },
		func() { appendLoad(f.IMAPAddr, a, stop) },
		func() { w.run(f.IMAPAddr, stop) },
	} {
		wg.Add(1)
		go func() { defer wg.Done(); load() }()
	}
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopLoad)

	testcluster.WaitFor(t, "load on b1", func() bool { n, _ := a.since(time.Time{}); return n >= 30 })
	killedAt := time.Now()
	b1.Stop()
	testcluster.WaitFor(t, "deliveries to resume", func() bool { n, _ := a.since(killedAt); return n >= 30 })
	testcluster.WaitFor(t, "the watcher to learn UIDs from b2", func() bool {
		return w.Top()%2 == 1 // b2 holds the odd slot
	})
	stopLoad()

	now := mailbox(t, c, fsm.Inbox("alice"))
	if now.Primary.Backend != "b2" {
		t.Fatalf("primary after failover: %+v", now.Primary)
	}
	held := mailboxOn(t, b2, mb.ID)
	count := make(map[string]int)
	for _, id := range held {
		count[id]++
	}
	a.mu.Lock()
	acked := len(a.ids)
	for id := range a.ids {
		if count[id] == 0 {
			t.Errorf("acknowledged message %s is not on the new primary", id)
		}
	}
	fails := a.fail
	a.mu.Unlock()
	for id, n := range count {
		if n > 1 {
			t.Errorf("message %s held %d times", id, n)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, v := range w.Violations() {
		t.Error(v)
	}
	if err := b2.Store.Verify(); err != nil {
		t.Fatal(err)
	}
	t.Logf("failover: %d acknowledged (%d refused or broken); deliveries paused for %v around the kill; watcher learnt %d UIDs over %d connections",
		acked, fails, a.longestPause(killedAt).Round(time.Millisecond), w.Learnt(), w.reconnects)
}
