package quota

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
)

// sizes is a Store whose mailboxes hold the bytes given.
type sizes map[uint64]int64

func (s sizes) Status(id uint64) (spool.Status, error) {
	return spool.Status{Size: s[id], Messages: 1}, nil
}

// remote answers each backend's share from shares, or fails while down.
type remote struct {
	shares map[string]Usage
	down   bool
	calls  int
}

func (r *remote) Share(_ context.Context, be fsm.Backend, _ string, _ uint64) (Usage, error) {
	r.calls++
	if r.down {
		return Usage{}, errors.New("connection refused")
	}
	return r.shares[be.ID], nil
}

// directory places alice's INBOX on b1 and, when spread, Archive on b2,
// with a quota of 1000 bytes.
func directory(t *testing.T, spread bool) *fsm.View {
	t.Helper()
	f := fsm.New()
	var index uint64
	apply := func(c fsm.Command) {
		index++
		if res := f.ApplyCommand(index, c); res.Err != nil {
			t.Fatalf("apply %T: %v", c, res.Err)
		}
	}
	apply(fsm.UserAdd{Name: "alice", PasswordHash: "x", QuotaBytes: 1000, At: 1})
	for _, b := range []string{"b1", "b2"} {
		apply(fsm.BackendRegister{ID: b, IMAPAddr: "127.0.0.1:1", APIAddr: "127.0.0.1:2", Weight: 1, At: 1})
	}
	add := func(name, backend string) {
		apply(fsm.Reserve{Name: name, Backend: backend, Reservation: "r-" + name, At: 1})
		apply(fsm.Activate{Name: name, Reservation: "r-" + name})
	}
	add(fsm.Inbox("alice"), "b1")
	if spread {
		add("user/alice/Archive", "b2")
	}
	return f.View()
}

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

// The bounds of the package comment: no remote call for a user on one
// backend; another backend's figure reused within CacheFor; when it
// cannot be reached, the last figure within StaleFor, then ErrUnavailable.
func TestMeterBounds(t *testing.T) {
	ctx := context.Background()
	store := sizes{}
	r := &remote{shares: map[string]Usage{"b2": {Bytes: 600, Messages: 2}}}
	clk := &clock{now: time.Unix(1000, 0)}
	m := NewMeter(MeterConfig{Backend: "b1", Store: store, Remote: r, Now: clk.Now})

	local := directory(t, false)
	for id := range 3 {
		store[uint64(id)] = 100
	}
	if u, err := m.Usage(ctx, local, "alice"); err != nil || r.calls != 0 {
		t.Fatalf("one backend: %+v, %v, %d remote calls", u, err, r.calls)
	}

	dir := directory(t, true)
	inbox, _ := dir.Mailbox(fsm.Inbox("alice"))
	store = sizes{inbox.ID: 300}
	m = NewMeter(MeterConfig{Backend: "b1", Store: store, Remote: r, Now: clk.Now})
	want := func(what string, bytes int64, calls int) {
		t.Helper()
		u, err := m.Usage(ctx, dir, "alice")
		if err != nil || u.Bytes != bytes || r.calls != calls {
			t.Fatalf("%s: %+v, %v after %d calls; want %d bytes after %d", what, u, err, r.calls, bytes, calls)
		}
	}
	want("spread", 900, 1)
	r.shares["b2"] = Usage{Bytes: 650}
	clk.now = clk.now.Add(DefaultCacheFor)
	want("within the cache bound", 900, 1)
	clk.now = clk.now.Add(time.Millisecond)
	want("past the cache bound", 950, 2)
	if err := NewLedger(ctx, dir, m).Admit(fsm.Inbox("alice"), 51); !errors.Is(err, ErrOver) {
		t.Fatalf("51 bytes over 950 of 1000: %v", err)
	}

	r.down = true
	clk.now = clk.now.Add(DefaultStaleFor)
	want("unreachable within the stale bound", 950, 3)
	clk.now = clk.now.Add(time.Millisecond)
	if _, err := m.Usage(ctx, dir, "alice"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("unreachable past the stale bound: %v", err)
	}
	if err := NewLedger(ctx, dir, m).Admit(fsm.Inbox("alice"), 1); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("admit with the usage unknown: %v", err)
	}
	r.down = false
	want("reachable again", 950, 6)

	never := NewMeter(MeterConfig{Backend: "b1", Store: store, Remote: r, CacheFor: -1, Now: clk.Now})
	for range 2 {
		if _, err := never.Usage(ctx, dir, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	if r.calls != 8 {
		t.Fatalf("a meter without a cache made %d calls, want 2", r.calls-6)
	}
}
