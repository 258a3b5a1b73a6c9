package lmtp_test

import (
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// BenchmarkProxyVsDirect delivers the same load, 4 KB messages to 100 users
// from 10 or 50 connections with 1 or 10 recipients a transaction, once
// through the LMTP proxy and once straight at the backend's LMTP server, and
// reports deliveries (recipient copies) per second of each and their ratio.
// With 10 connections the load is bound by each transaction's latency, to
// which the proxy adds its own exchange with the backend; with 50 the
// backend's disk is the bound and the proxy costs only its CPU.
//
//	go test -run '^$' -bench ProxyVsDirect -benchtime 300x ./lmtp/
func BenchmarkProxyVsDirect(b *testing.B) {
	for _, conns := range []int{10, 50} {
		for _, k := range []int{1, 10} {
			b.Run(fmt.Sprintf("conns=%d/rcpts=%d", conns, k), func(b *testing.B) {
				benchConns, benchPerTxn = conns, k
				benchProxyVsDirect(b)
			})
		}
	}
}

func benchProxyVsDirect(b *testing.B) {
	c := testcluster.Start(b, testcluster.Options{Backends: 1, Frontends: 1})
	var users []string
	for i := range 100 {
		u := fmt.Sprintf("user%03d", i)
		c.AddUser(u, 0)
		users = append(users, u+"@example.org")
	}
	body := benchMessage(4096)
	targets := []struct{ name, addr string }{
		{"proxy", c.Frontends[0].LMTPAddr},
		{"direct", c.Backends[0].LMTPAddr},
	}
	rates := map[string]float64{}
	for _, tg := range targets {
		rate, p99 := deliverLoad(b, tg.addr, users, body, b.N)
		rates[tg.name] = rate
		b.ReportMetric(rate, tg.name+"_deliveries/s")
		b.ReportMetric(float64(p99.Microseconds())/1000, tg.name+"_p99_ms")
	}
	b.ReportMetric(100*rates["proxy"]/rates["direct"], "proxy_%_of_direct")
}

// deliverLoad runs n transactions of 10 recipients each over 10 connections
// and returns recipient deliveries per second and the p99 transaction time.
func deliverLoad(b *testing.B, addr string, users []string, body []byte, n int) (float64, time.Duration) {
	conns, perTxn := benchConns, benchPerTxn
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			cl := smtp.NewClientLMTP(conn)
			defer cl.Close()
			if err := cl.Hello("bench"); err != nil {
				b.Error(err)
				return
			}
			var mine []time.Duration
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				t0 := time.Now()
				if err := txn(cl, users, int(i)*perTxn+w, perTxn, body); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	var p99 time.Duration
	if len(lat) > 0 {
		p99 = lat[len(lat)*99/100]
	}
	return float64(len(lat)*perTxn) / elapsed.Seconds(), p99
}

func txn(cl *smtp.Client, users []string, first, k int, body []byte) error {
	if err := cl.Mail("bench@example.org", nil); err != nil {
		return err
	}
	for j := range k {
		if err := cl.Rcpt(users[(first+j)%len(users)], nil); err != nil {
			return err
		}
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	// A unique header per transaction: the store keeps one file per
	// distinct body, and identical bodies would measure only the index.
	if _, err := fmt.Fprintf(w, "Message-Id: <%d.%d@bench.example.org>\r\n", first, time.Now().UnixNano()); err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	_, err = w.CloseWithLMTPResponse()
	return err
}

func benchMessage(size int) []byte {
	msg := []byte("From: bench@example.org\r\nSubject: bench\r\n\r\n")
	line := []byte("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n")
	for len(msg) < size {
		msg = append(msg, line...)
	}
	return msg
}

// benchConns and benchPerTxn are the benchmark's client connections and
// the recipients each of its transactions names.
var benchConns, benchPerTxn = 10, 10
