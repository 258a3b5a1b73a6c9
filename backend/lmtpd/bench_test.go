package lmtpd

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-smtp"
)

// BenchmarkLMTPDeliver delivers 4 KB messages over 10 connections, each
// transaction to rcptsPerTx of 100 users, fsync on. deliveries/s counts
// recipients that got a 250.
//
//	go test -run '^$' -bench LMTPDeliver -benchtime 3000x ./backend/lmtpd/
func BenchmarkLMTPDeliver(b *testing.B) {
	for _, perTx := range []int{1, 10} {
		b.Run(fmt.Sprintf("rcpts_per_tx_%d", perTx), func(b *testing.B) {
			benchDeliver(b, 10, 100, perTx)
		})
	}
}

func benchDeliver(b *testing.B, conns, users, perTx int) {
	e := newEnv(b, 0)
	for i := 0; i < users; i++ {
		e.addUser(fmt.Sprintf("user%d", i), backendID)
	}
	filler := strings.Repeat(strings.Repeat("x", 76)+"\r\n", 4096/78)
	var next, delivered atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for c := 0; c < conns; c++ {
		client := dial(b, e.addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				var rcpts []string
				for r := 0; r < perTx; r++ {
					rcpts = append(rcpts, fmt.Sprintf("user%d@example.org", (int(n)*perTx+r)%users))
				}
				body := fmt.Sprintf("Subject: bench %d\r\n\r\n%s", n, filler)
				if ok, err := deliverOnce(client, rcpts, body); err != nil {
					b.Error(err)
					return
				} else {
					delivered.Add(int64(ok))
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if got, want := delivered.Load(), int64(b.N*perTx); got != want {
		b.Fatalf("%d deliveries acknowledged, want %d", got, want)
	}
	b.ReportMetric(float64(delivered.Load())/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(float64(peakRSSKiB()), "peak_rss_KiB")
}

func deliverOnce(c *smtp.Client, rcpts []string, body string) (int, error) {
	if err := c.Mail("bench@example.org", nil); err != nil {
		return 0, err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return 0, err
		}
	}
	w, err := c.Data()
	if err != nil {
		return 0, err
	}
	if _, err := w.Write([]byte(body)); err != nil {
		return 0, err
	}
	ok, err := w.CloseWithLMTPResponse()
	return len(ok), err
}

// peakRSSKiB is the process's peak resident set (VmHWM), or 0 off Linux.
func peakRSSKiB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kib int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kib)
			return kib
		}
	}
	return 0
}
