package directory

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/fsm"
)

func TestWritesThroughFollowerAndNonVoter(t *testing.T) {
	c := startCluster(t, 3, "f1")
	follower, nonVoter := c.follower(), c.nodes["f1"]

	registerBackend(t, follower, "b1")
	res := mustApply(t, nonVoter, reserve("shared/news", "b1", "r1"))
	if res.Mailbox == nil || res.Mailbox.State != fsm.Reserved {
		t.Fatalf("reserve result mailbox = %+v, want reserved", res.Mailbox)
	}
	act := mustApply(t, follower, fsm.Activate{Name: "shared/news", Reservation: "r1"})
	if act.Index <= res.Index {
		t.Fatalf("activate index %d not after reserve index %d", act.Index, res.Index)
	}
	// Read-your-writes: the index a write returns is reachable locally.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := nonVoter.WaitApplied(ctx, act.Index); err != nil {
		t.Fatal(err)
	}
	mb, ok := nonVoter.fsm.Mailbox("shared/news")
	if !ok || mb.State != fsm.Active || mb.UIDValidity == 0 {
		t.Fatalf("mailbox on non-voter = %+v, want active with uidvalidity", mb)
	}
	c.waitConverged(act.Index)
}

func TestSyncedReadOnNonVoterSeesOtherNodesWrite(t *testing.T) {
	c := startCluster(t, 3, "f1")
	nonVoter := c.nodes["f1"]
	for i, n := range []*Node{c.follower(), c.leader()} {
		name := []string{"shared/a", "shared/b"}[i]
		if i == 0 {
			registerBackend(t, n, "b1")
		}
		mustApply(t, n, reserve(name, "b1", "r"))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		v, err := nonVoter.Read(ctx, Synced)
		cancel()
		if err != nil {
			t.Fatalf("synced read: %v", err)
		}
		// No waiting here: after a synced read the view and the local copy
		// must hold it.
		if _, ok := v.Mailbox(name); !ok {
			t.Fatalf("synced read on non-voter does not see %s", name)
		}
		if _, ok := nonVoter.fsm.Mailbox(name); !ok {
			t.Fatalf("non-voter's copy lacks %s after a synced read", name)
		}
	}
	if _, err := nonVoter.Read(context.Background(), Level(9)); !errors.Is(err, ErrInvalidLevel) {
		t.Fatalf("read at an unknown level: %v, want ErrInvalidLevel", err)
	}
}

func TestForwardingCarriesFSMSentinels(t *testing.T) {
	c := startCluster(t, 3, "f1")
	follower, nonVoter := c.follower(), c.nodes["f1"]
	registerBackend(t, follower, "b1")
	mustApply(t, follower, reserve("shared/x", "b1", "r1"))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		cmd  fsm.Command
		want error
	}{
		{reserve("shared/x", "b1", "r2"), fsm.ErrNotActive},
		{fsm.Activate{Name: "shared/x", Reservation: "r2"}, fsm.ErrWrongReservation},
		{reserve("no-namespace", "b1", "r3"), fsm.ErrInvalidName},
		{reserve("shared/y", "nobackend", "r3"), fsm.ErrNoBackend},
	} {
		for _, n := range []*Node{follower, nonVoter} {
			res, err := n.Apply(ctx, tc.cmd)
			if err != nil {
				t.Fatalf("%T through %s: %v", tc.cmd, n.ID(), err)
			}
			if !errors.Is(res.Err, tc.want) {
				t.Errorf("%T through %s: result %v, want %v", tc.cmd, n.ID(), res.Err, tc.want)
			}
		}
	}
	// The failed Activate changed nothing: the right reservation still works.
	mustApply(t, nonVoter, fsm.Activate{Name: "shared/x", Reservation: "r1"})
	if res, err := nonVoter.Apply(ctx, reserve("shared/x", "b1", "r4")); err != nil || !errors.Is(res.Err, fsm.ErrNameExists) {
		t.Errorf("reserve of an active name through f1: %v, %v; want %v", res.Err, err, fsm.ErrNameExists)
	}
}

func TestConcurrentReservesOneWins(t *testing.T) {
	c := startCluster(t, 3, "f1")
	registerBackend(t, c.leader(), "b1")
	nodes := []*Node{c.follower(), c.nodes["f1"]}
	for round := range 5 {
		name := "shared/race" + string(rune('a'+round))
		results := make([]fsm.Result, len(nodes))
		errs := make([]error, len(nodes))
		var wg sync.WaitGroup
		for i, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				results[i], errs[i] = n.Apply(ctx, reserve(name, "b1", n.ID()))
			}()
		}
		wg.Wait()
		winners := 0
		for i := range nodes {
			if errs[i] != nil {
				t.Fatalf("reserve through %s: %v", nodes[i].ID(), errs[i])
			}
			switch {
			case results[i].Err == nil:
				winners++
			case !errors.Is(results[i].Err, fsm.ErrNotActive):
				t.Fatalf("loser got %v, want ErrNotActive (the winner's create is in progress)", results[i].Err)
			}
		}
		if winners != 1 {
			t.Fatalf("%s: %d reserves won, want exactly 1", name, winners)
		}
	}
}

func TestFreshReadFallsBackAndReportsStale(t *testing.T) {
	c := startCluster(t, 3, "f1")
	f1 := c.nodes["f1"]
	registerBackend(t, c.leader(), "b1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := f1.Read(ctx, Fresh); err != nil {
		t.Fatalf("fresh read in a healthy cluster: %v", err)
	}
	f1.cfg.StaleAfter = 300 * time.Millisecond // read only by Fresh reads
	for _, n := range c.open() {
		if n != f1 {
			c.close(n.ID())
		}
	}
	waitFor(t, 10*time.Second, "f1's contact to go stale", func() bool {
		return time.Since(f1.raft.LastContact()) > 2*f1.cfg.StaleAfter
	})
	short, cancelShort := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelShort()
	if _, err := f1.Read(short, Fresh); !errors.Is(err, ErrStale) {
		t.Fatalf("fresh read with no leader: %v, want ErrStale", err)
	}
}

// Synced reads in flight together share a ReadIndex round, and each still
// sees every write acknowledged before it began.
func TestSyncedReadsShareRounds(t *testing.T) {
	c := startCluster(t, 3, "f1")
	nonVoter := c.nodes["f1"]
	registerBackend(t, c.leader(), "b1")
	mustApply(t, c.leader(), reserve("shared/before", "b1", "r"))

	nonVoter.rounds.mu.Lock()
	before := nonVoter.rounds.started
	nonVoter.rounds.mu.Unlock()
	const readers = 64
	start := make(chan struct{})
	errs := make(chan error, readers)
	var wg sync.WaitGroup
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			v, err := nonVoter.Read(ctx, Synced)
			if err == nil {
				if _, ok := v.Mailbox("shared/before"); !ok {
					err = errors.New("a synced read misses a write acknowledged before it began")
				}
			}
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	nonVoter.rounds.mu.Lock()
	rounds := nonVoter.rounds.started - before
	nonVoter.rounds.mu.Unlock()
	if rounds < 1 || rounds >= readers {
		t.Fatalf("%d synced reads took %d ReadIndex rounds; they should share them", readers, rounds)
	}
	t.Logf("%d synced reads, %d rounds", readers, rounds)
}
