package spool

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Failures and races: whatever goes wrong, the index stays consistent and
// no file is left without a record or a record without its file.

// failingReader fails after n bytes, as a client that goes away mid-DATA.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("connection reset")
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	r.n -= k
	return k, nil
}

func TestFailedDeliveryLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustCreate(t, s, 1, 1, 0)
	if _, err := s.Append(context.Background(), AppendRequest{Mailbox: 1, Body: &failingReader{n: 5000}}); err == nil {
		t.Fatal("append of a failing body succeeded")
	}
	// Every mailbox refuses: the written body must not stay behind.
	for _, body := range []string{testBody(1), largeBody(1)} {
		ds, err := s.Deliver(context.Background(), []uint64{7, 8}, strings.NewReader(body), time.Time{})
		if err != nil || !errors.Is(ds[0].Err, ErrNoMailbox) || !errors.Is(ds[1].Err, ErrNoMailbox) {
			t.Fatalf("deliver to missing mailboxes: %+v %v", ds, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Append(ctx, AppendRequest{Mailbox: 1, Body: strings.NewReader(testBody(2))}); !errors.Is(err, context.Canceled) {
		t.Fatalf("append with a cancelled context: %v", err)
	}
	keepsNothing(t, s)
	if st, _ := s.Status(1); st.Messages != 0 || st.HighestModSeq != 1 {
		t.Fatalf("failed deliveries changed the mailbox: %+v", st)
	}
	if n := countFiles(t, dir) - 1; n != 0 {
		t.Fatalf("%d files left behind", n)
	}
}

// Expunging the last copy of a body while it is appended again elsewhere
// must never leave a record without its file.
func TestExpungeRacesAppendOfSameBody(t *testing.T) {
	for _, body := range []string{testBody(42), largeBody(42)} {
		t.Run(fmt.Sprint(len(body)), func(t *testing.T) { testExpungeRacesAppend(t, body) })
	}
}

func testExpungeRacesAppend(t *testing.T, body string) {
	s := openStore(t, t.TempDir())
	mustCreate(t, s, 1, 1, 0)
	mustCreate(t, s, 2, 1, 0)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < 50; i++ {
			m, err := s.Append(context.Background(), AppendRequest{Mailbox: 1, Flags: []imap.Flag{imap.FlagDeleted}, Body: strings.NewReader(body)})
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := s.Expunge(1, []uint32{m.UID}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 50; i++ {
			m, err := s.Append(context.Background(), AppendRequest{Mailbox: 2, Flags: []imap.Flag{imap.FlagDeleted}, Body: strings.NewReader(body)})
			if err != nil {
				t.Error(err)
				return
			}
			if err := s.Verify(); err != nil {
				t.Error(err)
				return
			}
			if _, err := s.Expunge(2, []uint32{m.UID}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	mustVerify(t, s)
	waitStoredBodies(t, s, 0) // every copy was expunged
}

func TestFsErrorClassifies(t *testing.T) {
	if err := fsError("write", &fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}); !errors.Is(err, ErrDiskFull) || !Temporary(err) {
		t.Errorf("ENOSPC: %v", err)
	}
	if err := fsError("write", syscall.EIO); !errors.Is(err, ErrIO) || errors.Is(err, ErrDiskFull) {
		t.Errorf("EIO: %v", err)
	}
}
