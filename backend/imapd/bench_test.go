package imapd_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rookery-mail/rookery/backend/backendtest"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
)

// BenchmarkFetchEnvelopes: one UID FETCH 1:* (ENVELOPE) of a 1,000-message
// mailbox over a real connection.
func BenchmarkFetchEnvelopes(b *testing.B) {
	const n = 1000
	env := backendtest.Start(b)
	env.AddUser("alice", "pw")
	inbox, _ := readLocal(b, env.Dir).Mailbox(fsm.Inbox("alice"))
	ctx := backendtest.Ctx(b)
	for i := 0; i < n; i++ {
		body := message(fmt.Sprintf("message %d", i), strings.Repeat("text ", 200))
		if _, err := env.Store.Append(ctx, spool.AppendRequest{Mailbox: inbox.ID, Body: strings.NewReader(body)}); err != nil {
			b.Fatal(err)
		}
	}
	c := asUser(b, env, "alice", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	all := imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Envelope: true}).Collect()
		if err != nil || len(msgs) != n || msgs[n-1].Envelope == nil {
			b.Fatalf("fetch: %v, %d messages", err, len(msgs))
		}
	}
	b.ReportMetric(float64(b.N*n)/time.Since(start).Seconds(), "envelopes/s")
}

// BenchmarkAppend: APPEND of a 4 KB message through IMAP, each acknowledged
// only once fsynced, from 1 and 16 concurrent connections.
func BenchmarkAppend(b *testing.B) {
	for _, conc := range []int{1, 16} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			env := backendtest.Start(b)
			env.AddUser("alice", "pw")
			body := message("bench", strings.Repeat("0123456789abcdef", 256))
			clients := make([]*imapclient.Client, conc)
			for i := range clients {
				clients[i] = asUser(b, env, "alice", nil)
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, conc)
			b.ResetTimer()
			start := time.Now()
			for _, c := range clients {
				wg.Add(1)
				go func(c *imapclient.Client) {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						cmd := c.Append("INBOX", int64(len(body)), nil)
						cmd.Write([]byte(body))
						cmd.Close()
						if _, err := cmd.Wait(); err != nil {
							errs <- err
							return
						}
					}
				}(c)
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
		})
	}
}
