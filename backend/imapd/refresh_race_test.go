package imapd_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rookery-mail/rookery/backend/backendtest"
	"github.com/rookery-mail/rookery/fsm"
)

// Sessions that poll a mailbox while deliveries keep committing refresh
// its shared state from several goroutines at once (each session's poll,
// the server's refresh loop). A refresh that read the store before another
// but merged after it would take the newest messages for expunged and then
// announce them again under the same UIDs. No message is expunged here, so
// no session may hear EXPUNGE, and each hears EXISTS for every message.
func TestConcurrentRefreshesExpungeNothing(t *testing.T) {
	env := backendtest.Start(t)
	env.AddUser("alice", "pw")
	inbox, _ := readLocal(t, env.Dir).Mailbox(fsm.Inbox("alice"))
	const senders, each, pollers = 8, 40, 6

	var expunges, delivered atomic.Int64
	var highest [pollers]atomic.Uint32
	var clients []*imapclient.Client
	for i := range pollers {
		c := asUser(t, env, "alice", &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Expunge: func(uint32) { expunges.Add(1) },
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					highest[i].Store(*d.NumMessages)
				}
			},
		}})
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}

	var wg sync.WaitGroup
	done := make(chan struct{})
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range each {
				body := message(fmt.Sprintf("s%d-%d", s, n), "x")
				ds, err := env.Store.Deliver(backendtest.Ctx(t), []uint64{inbox.ID}, strings.NewReader(body), time.Now())
				if err == nil {
					err = ds[0].Err
				}
				if err != nil {
					t.Error(err)
					return
				}
				delivered.Add(1)
			}
		}()
	}
	var polls sync.WaitGroup
	for i, c := range clients {
		polls.Add(1)
		go func() {
			defer polls.Done()
			for {
				if err := c.Noop().Wait(); err != nil {
					t.Error(err)
					return
				}
				select {
				case <-done:
					if int64(highest[i].Load()) == delivered.Load() {
						return
					}
				default:
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	polls.Wait()
	if n := expunges.Load(); n > 0 {
		t.Fatalf("sessions heard %d EXPUNGE responses; nothing was expunged", n)
	}
}
