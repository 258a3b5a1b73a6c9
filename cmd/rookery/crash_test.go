package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/rookery-mail/rookery/spool"
)

// TestSIGKILLDuringAppendsAndDeliveries kills a node process with SIGKILL
// while 4 IMAP appenders and 4 LMTP senders work on one mailbox, restarts
// it, and checks that every acknowledged message is there once, with the
// UID and flags it was acknowledged with; that UIDs ascend; and that the
// spool's index agrees with its files.
func TestSIGKILLDuringAppendsAndDeliveries(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes; skipped with -short")
	}
	n := newProcNode(t, "crash1", nil)
	n.start()
	addProcUser(t, n.cfg.Directory.APIAddr, "crash")

	var mu sync.Mutex
	acks := map[string]acked{} // Message-Id -> what the server acknowledged
	record := func(id string, a acked) {
		mu.Lock()
		acks[id] = a
		mu.Unlock()
	}
	count := func() (delivered, appended int) {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range acks {
			if a.uid == 0 {
				delivered++
			} else {
				appended++
			}
		}
		return delivered, appended
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			appendSession(ctx, n.cfg.Frontend.IMAPAddr, "crash", idSequence(fmt.Sprintf("imap-%d", w)), record)
		}()
		go func() {
			defer wg.Done()
			lmtpSession(ctx, n.cfg.Frontend.LMTPAddr, "crash", idSequence(fmt.Sprintf("lmtp-%d", w)), record)
		}()
	}
	waitUntil(t, "75 acknowledged deliveries and 75 appends", func() bool {
		delivered, appended := count()
		return delivered >= 75 && appended >= 75
	})
	n.signal(syscall.SIGKILL)
	stop()
	wg.Wait()
	delivered, appended := count()
	t.Logf("killed after %d acknowledged deliveries and %d appends", delivered, appended)

	n.start()
	checkMailbox(t, fetchAll(t, n.cfg.Frontend.IMAPAddr, "crash"), acks)

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
