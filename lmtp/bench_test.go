package lmtp_test

import (
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// BenchmarkProxyVsDirect delivers the same load, 4 KB messages to 100 users
// from 10 or 50 connections with 1 or 10 recipients a transaction, through
// the LMTP proxy and straight at the backend's LMTP server in alternating
// rounds, and reports deliveries (recipient copies) per second of each and
// their ratio: over the whole run, and the median of the rounds' ratios,
// which a burst of other load on the machine moves much less.
// With 10 connections the load is bound by each transaction's latency, to
// which the proxy adds its own exchange with the backend; with 50 the
// backend's disk is the bound and the proxy costs only its CPU.
//
//	go test -run '^$' -bench ProxyVsDirect -benchtime 2000x ./lmtp/
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

// roundTxns is how many transactions a connection runs in each round. The
// benchmark alternates between the proxy and the backend round by round,
// each side going first in every other round (proxy, direct, direct,
// proxy, ...): a background load that drifts during the run then weighs on
// both sides alike, not on whichever ran second.
const roundTxns = 5

func benchProxyVsDirect(b *testing.B) {
	c := testcluster.Start(b, testcluster.Options{Backends: 1, Frontends: 1})
	var users []string
	for i := range 100 {
		u := fmt.Sprintf("user%03d", i)
		c.AddUser(u, 0)
		users = append(users, u+"@example.org")
	}
	body := benchMessage(4096)
	targets := []*benchTarget{
		{name: "proxy", addr: c.Frontends[0].LMTPAddr},
		{name: "direct", addr: c.Backends[0].LMTPAddr},
	}
	// Both sides first deliver a few messages a connection unmeasured: the
	// proxy fills its pool of backend connections, the backend its caches.
	for _, tg := range targets {
		deliverLoad(b, &benchTarget{addr: tg.addr}, users, body, 3*benchConns)
	}
	rounds := max(2, b.N/(roundTxns*benchConns))
	for r := range rounds {
		n := b.N / rounds
		if r < b.N%rounds {
			n++
		}
		// Each side goes first in every other round.
		for i := range targets {
			deliverLoad(b, targets[(i+r)%len(targets)], users, body, n)
		}
	}
	for _, tg := range targets {
		b.ReportMetric(tg.rate(), tg.name+"_deliveries/s")
		b.ReportMetric(float64(tg.p99().Microseconds())/1000, tg.name+"_p99_ms")
		b.ReportMetric(float64(tg.cpu.Microseconds())/float64(tg.deliveries), tg.name+"_cpu_us/delivery")
	}
	b.ReportMetric(100*targets[0].rate()/targets[1].rate(), "proxy_%_of_direct")
	b.ReportMetric(100*medianRatio(targets[0].rounds, targets[1].rounds), "proxy_%_of_direct_median_round")
}

// medianRatio is the median over rounds of a[i]/b[i]. Each round of one
// side ran next to the same round of the other, so a load on the machine
// that comes and goes weighs on both sides of a pair alike; the median
// of the pairs then discards the rounds one burst hit on one side only.
func medianRatio(a, b []float64) float64 {
	var rs []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			rs = append(rs, a[i]/b[i])
		}
	}
	if len(rs) == 0 {
		return 0
	}
	slices.Sort(rs)
	if len(rs)%2 == 1 {
		return rs[len(rs)/2]
	}
	return (rs[len(rs)/2-1] + rs[len(rs)/2]) / 2
}

// benchTarget is one side of the comparison and what its rounds measured.
type benchTarget struct {
	name, addr string
	deliveries int
	elapsed    time.Duration
	cpu        time.Duration // the whole process's: proxy, backend and directory
	lat        []time.Duration
	rounds     []float64 // deliveries per second of each round
}

// rate is recipient deliveries per second over all of the target's rounds.
func (tg *benchTarget) rate() float64 { return float64(tg.deliveries) / tg.elapsed.Seconds() }

func (tg *benchTarget) p99() time.Duration {
	if len(tg.lat) == 0 {
		return 0
	}
	slices.Sort(tg.lat)
	return tg.lat[len(tg.lat)*99/100]
}

// deliverLoad runs n transactions of benchPerTxn recipients each over
// benchConns connections and adds what it measured to tg.
func deliverLoad(b *testing.B, tg *benchTarget, users []string, body []byte, n int) {
	conns, perTxn := benchConns, benchPerTxn
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	clients := dialClients(b, tg.addr, conns)
	var wg sync.WaitGroup
	cpu0 := processCPU(b)
	start := time.Now()
	for w, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.Close()
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
	tg.rounds = append(tg.rounds, float64(len(lat)*perTxn)/elapsed.Seconds())
	tg.elapsed += elapsed
	tg.cpu += processCPU(b) - cpu0
	tg.deliveries += len(lat) * perTxn
	tg.lat = append(tg.lat, lat...)
}

// processCPU is the user and system time the process has used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// dialClients connects and greets before the clock starts: connection set-up
// is the same on both sides and not what is measured.
func dialClients(b *testing.B, addr string, n int) []*smtp.Client {
	var clients []*smtp.Client
	for range n {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		cl := smtp.NewClientLMTP(conn)
		if err := cl.Hello("bench"); err != nil {
			b.Fatal(err)
		}
		clients = append(clients, cl)
	}
	return clients
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
