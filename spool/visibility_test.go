package spool

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// While a commit to mailbox 1 is being replicated (the hook blocks until
// released), the reads that serve clients of mailbox 2 go on, and a read
// of mailbox 1 waits until the hook returns and then shows the commit: no
// session sees a change the replicas may lack, and no session of another
// mailbox waits for it. (With a store-wide visibility lock the first read
// of mailbox 2 blocks for good.)
func TestVisibilityWaitIsPerMailbox(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustCreate(t, s, 1, 1, 0)
	mustCreate(t, s, 2, 1, 0)
	mustAppend(t, s, 2, testBody(1))

	entered := make(chan []uint64, 1)
	release := make(chan struct{})
	s.SetReplicator(func(_ context.Context, ids []uint64) map[uint64]error {
		entered <- ids
		<-release
		return nil
	})
	waiting := make(chan uint64, 8)
	s.visWait = func(id uint64) { waiting <- id }

	appended := make(chan error, 1)
	go func() {
		_, err := s.Append(context.Background(), AppendRequest{Mailbox: 1, Body: strings.NewReader(testBody(2))})
		appended <- err
	}()
	if ids := <-entered; !slices.Equal(ids, []uint64{1}) {
		close(release)
		t.Fatalf("the hook replicates %v, want [1]", ids)
	}

	// The hook is blocked: mailbox 1's commit is in the index, unreplicated.
	if msgs, err := s.Messages(2); err != nil || len(msgs) != 1 {
		close(release)
		t.Fatalf("messages of mailbox 2 while mailbox 1 replicates: %d, %v", len(msgs), err)
	}
	if st, err := s.Status(2); err != nil || st.Messages != 1 {
		close(release)
		t.Fatalf("status of mailbox 2 while mailbox 1 replicates: %+v, %v", st, err)
	}
	select {
	case id := <-waiting:
		close(release)
		t.Fatalf("a read of mailbox %d waited for the replication of mailbox 1", id)
	default:
	}

	type result struct {
		msgs     []Message
		err      error
		released bool
	}
	var released atomic.Bool
	read := make(chan result, 1)
	go func() {
		msgs, err := s.Messages(1)
		read <- result{msgs, err, released.Load()}
	}()
	select {
	case r := <-read:
		close(release)
		t.Fatalf("a read of mailbox 1 returned %d messages (%v) while its commit was being replicated", len(r.msgs), r.err)
	case id := <-waiting:
		if id != 1 {
			close(release)
			t.Fatalf("the read of mailbox 1 waits as a read of %d", id)
		}
	}
	released.Store(true)
	close(release)
	r := <-read
	if r.err != nil || len(r.msgs) != 1 || !r.released {
		t.Fatalf("read of mailbox 1: %d messages, %v, after the hook returned: %v", len(r.msgs), r.err, r.released)
	}
	if err := <-appended; err != nil {
		t.Fatalf("append to mailbox 1: %v", err)
	}
}
