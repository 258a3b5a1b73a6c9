package main

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rookery-mail/rookery/internal/uidorder"
)

// The failover test's clients: load workers that record what the cluster
// acknowledged, and a client that watches the UIDs of a selected mailbox.

// loadLog records the acknowledged messages of every load worker.
type loadLog struct {
	mu    sync.Mutex
	acks  map[string]acked // Message-Id -> what the server acknowledged
	fails int
	// reasons counts the failures by their error text without addresses.
	reasons map[string]int
}

var addrRe = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+:\d+`)

func (l *loadLog) failed(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fails++
	if l.reasons == nil {
		l.reasons = make(map[string]int)
	}
	l.reasons[addrRe.ReplaceAllString(err.Error(), "ADDR")]++
}

func (l *loadLog) record(id string, a acked) {
	l.mu.Lock()
	l.acks[id] = a
	l.mu.Unlock()
}

type loadSession func(ctx context.Context, addr, user string, nextID func() string, record func(string, acked)) error

// keep runs sessions one after another until the context ends: a node
// dying, or a 4xx while the directory moves the mailbox, ends a session
// and the worker starts again, as an MTA or a mail client would.
func (l *loadLog) keep(ctx context.Context, session loadSession, addr, user, prefix string) {
	nextID := idSequence(prefix)
	for ctx.Err() == nil {
		if err := session(ctx, addr, user, nextID, l.record); err != nil && ctx.Err() == nil {
			l.failed(err)
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond): // a retry delay, as clients have
			}
		}
	}
}

// arrivals starts a new LMTP connection with one delivery every 50 ms,
// whether or not earlier ones have finished, as new mail reaching an MTA
// does: the measure of when deliveries resume that does not depend on
// how long a transaction stuck on a dead backend takes to fail.
func (l *loadLog) arrivals(ctx context.Context, addr, user, prefix string) {
	var wg sync.WaitGroup
	defer wg.Wait()
	var mu sync.Mutex
	seq := idSequence(prefix)
	nextID := func() string { mu.Lock(); defer mu.Unlock(); return seq() }
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			once, cancel := context.WithCancel(ctx)
			defer cancel()
			record := func(id string, a acked) { cancel(); l.record(id, a) }
			if err := lmtpSession(once, addr, user, nextID, record); err != nil && ctx.Err() == nil {
				l.failed(err)
			}
		}()
	}
}

// count is the number of LMTP deliveries and of APPENDs begun after t
// and acknowledged.
func (l *loadLog) count(t time.Time) (delivered, appended int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.acks {
		switch {
		case !a.begun.After(t):
		case a.uid == 0:
			delivered++
		default:
			appended++
		}
	}
	return delivered, appended
}

// firstAcks is how long after t the first LMTP delivery and the first
// APPEND begun after t were acknowledged. Counting only transactions begun
// after t leaves out answers the dead node sent just before it died.
func (l *loadLog) firstAcks(t time.Time) (delivery, append time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first [2]time.Time
	for _, a := range l.acks {
		kind := 0
		if a.uid != 0 {
			kind = 1
		}
		if a.begun.After(t) && (first[kind].IsZero() || a.at.Before(first[kind])) {
			first[kind] = a.at
		}
	}
	return first[0].Sub(t), first[1].Sub(t)
}

// lastAppendUID is the highest UID acknowledged to an APPEND begun after t.
func (l *loadLog) lastAppendUID(t time.Time) imap.UID {
	l.mu.Lock()
	defer l.mu.Unlock()
	var top imap.UID
	for _, a := range l.acks {
		if a.begun.After(t) {
			top = max(top, a.uid)
		}
	}
	return top
}

// longestTransaction is the longest time an acknowledged transaction took.
func (l *loadLog) longestTransaction() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var longest time.Duration
	for _, a := range l.acks {
		longest = max(longest, a.at.Sub(a.begun))
	}
	return longest
}

// longestPause is the longest time between consecutive acknowledgements
// that ends after t.
func (l *loadLog) longestPause(t time.Time) time.Duration {
	l.mu.Lock()
	times := make([]time.Time, 0, len(l.acks))
	for _, a := range l.acks {
		times = append(times, a.at)
	}
	l.mu.Unlock()
	slices.SortFunc(times, time.Time.Compare)
	var longest time.Duration
	for i := 1; i < len(times); i++ {
		if times[i].After(t) {
			longest = max(longest, times[i].Sub(times[i-1]))
		}
	}
	return longest
}

// uidWatcher is a client that keeps INBOX selected and polls it, checking
// that every UID it learns is above every UID it learnt before, under one
// uidvalidity. The frontend must keep its session through a failover: an
// end of the session is a problem. The watcher then logs in again, as a
// mail client does, and goes on checking against what it knew.
type uidWatcher struct {
	uidorder.Order
	mu       sync.Mutex
	sessions int      // sessions that selected INBOX
	ends     []string // why each attempt or session ended
}

func (w *uidWatcher) run(ctx context.Context, addr, user string) {
	for ctx.Err() == nil {
		if err := w.session(ctx, addr, user); err != nil && ctx.Err() == nil {
			w.mu.Lock()
			w.ends = append(w.ends, addrRe.ReplaceAllString(err.Error(), "ADDR"))
			w.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

func (w *uidWatcher) session(ctx context.Context, addr, user string) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	c := imapclient.New(conn, nil)
	defer c.Close()
	stop := watchdog(conn)
	sel, err := loginSelect(c, user)
	if err := stop(err); err != nil {
		return err
	}
	w.mu.Lock()
	w.sessions++
	w.mu.Unlock()
	for ctx.Err() == nil {
		stop := watchdog(conn)
		data, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
		if err := stop(err); err != nil {
			return err
		}
		w.Observe(sel.UIDValidity, data.AllUIDs())
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond): // polling, as a client without IDLE does
		}
	}
	return nil
}

func loginSelect(c *imapclient.Client, user string) (*imap.SelectData, error) {
	if err := c.Login(user, procPassword).Wait(); err != nil {
		return nil, err
	}
	return c.Select("INBOX", nil).Wait()
}

func (w *uidWatcher) sessionCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sessions
}

// problems are the UID violations and every end of a session: the
// watcher must stay in one session from start to finish.
func (w *uidWatcher) problems() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.Violations()
	for _, e := range w.ends {
		out = append(out, "the watcher's session ended: "+e)
	}
	if w.sessions != 1 {
		out = append(out, fmt.Sprintf("the watcher selected INBOX in %d sessions, want 1", w.sessions))
	}
	return out
}
