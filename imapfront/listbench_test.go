package imapfront

import (
	"bufio"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rookery-mail/rookery/fsm"
)

// BenchmarkListLargeDirectory measures LIST "" "*" through a frontend, for
// a user with 10 folders and 5 folders granted by others, from 10 clients
// at once (and from one, for the time of a LIST without queueing), over
// directories of 10,000, 100,000 and 1,000,000 mailboxes: users of 10
// folders each, 1% of them granting a folder to 10 others, and 50 shared
// folders readable by anyone. Run it with
//
//	go test ./imapfront/ -run '^$' -bench ListLargeDirectory -benchtime 2000x
//
// CPU per LIST is the whole process's (frontend and clients), from
// getrusage. The directory is a local FSM filled by batched apply, as Raft
// delivers a burst of committed entries; a LIST's synced read is answered
// at once (in a cluster it also waits for one ReadIndex round, shared by
// the reads in flight).
//
// The closed-loop runs send each client's next LIST as soon as the last
// is answered, so ten clients keep both cores busy and their p50 and p99
// are mostly the queue's. The paced runs (rate=) plan LISTs at a fixed
// total rate, dealt round the 10 clients: a client sends each at its
// planned time, or as soon as its last is answered if that is later, and
// a LIST sent late is timed from its plan, so a stall counts against
// every LIST planned during it. One sent on time is timed from when its
// client woke, as Go's timers wake up to a millisecond late here.
func BenchmarkListLargeDirectory(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		for _, clients := range []int{10, 1} {
			b.Run(fmt.Sprintf("mailboxes=%d/clients=%d", n, clients), func(b *testing.B) { benchList(b, n, clients, 0) })
		}
		for _, rate := range []int{1000, 4000} {
			b.Run(fmt.Sprintf("mailboxes=%d/clients=10/rate=%d", n, rate), func(b *testing.B) { benchList(b, n, 10, rate) })
		}
	}
}

var benchListFolders = []string{"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive", "Archive/2024", "INBOX/work", "INBOX/lists", "Notes"}

func benchListUser(i int) string { return fmt.Sprintf("u%06d@example.com", i) }

// fillListDirectory applies n mailboxes (n/10 users of 10 folders, 50 of
// them shared/ folders) and their grants to dir in batches. The user
// u000001@example.com is granted a folder by 5 users.
func fillListDirectory(b *testing.B, dir *localDirectory, n int) {
	var batch []*raft.Log
	flush := func() {
		for i, out := range dir.f.ApplyBatch(batch) {
			if r := out.(fsm.Result); r.Err != nil {
				b.Fatalf("entry %d: %v", batch[i].Index, r.Err)
			}
		}
		batch = batch[:0]
	}
	add := func(c fsm.Command) {
		data, err := fsm.Encode(c)
		if err != nil {
			b.Fatal(err)
		}
		dir.index++
		batch = append(batch, &raft.Log{Index: dir.index, Type: raft.LogCommand, Data: data})
		if len(batch) == 4096 {
			flush()
		}
	}
	create := func(name string) {
		res := "r-" + name
		add(fsm.Reserve{Name: name, Backend: "b1", Replicas: []string{"b2"}, Reservation: res, At: 1})
		add(fsm.Activate{Name: name, Reservation: res})
	}
	add(fsm.BackendRegister{ID: "b1", IMAPAddr: "127.0.0.1:1", Weight: 1, At: 1})
	add(fsm.BackendRegister{ID: "b2", IMAPAddr: "127.0.0.1:1", Weight: 1, At: 1})
	const sharedFolders = 50
	users := (n - sharedFolders) / len(benchListFolders)
	for u := 0; u < users; u++ {
		for _, folder := range benchListFolders {
			create("user/" + benchListUser(u) + "/" + folder)
		}
	}
	for i := 0; i < sharedFolders; i++ {
		name := fmt.Sprintf("shared/folder%02d", i)
		create(name)
		add(fsm.SetACL{Name: name, Identifier: fsm.AnyoneIdentifier, Rights: "lr"})
	}
	// 1% of the users grant their INBOX/lists to the 10 users after them;
	// the first five include u000001 among them.
	for g, granters := 0, 0; g < users; g, granters = g+100, granters+1 {
		for k := 1; k <= 10; k++ {
			to := benchListUser((g + k) % users)
			if k == 10 && granters < 5 {
				to = benchListUser(1)
			}
			add(fsm.SetACL{Name: "user/" + benchListUser(g) + "/INBOX/lists", Identifier: to, Rights: "lrs"})
		}
	}
	flush()
}

// listDir is the directory of the size benchmarked last, kept for the
// benchmark's later runs (at larger b.N) so that it is filled once.
var listDir struct {
	n        int
	dir      *localDirectory
	perEntry float64
}

// BenchmarkNoopBesideList is the LIST benchmark's control: NOOP, which
// reads no directory and writes one line, from 10 clients at once through
// the same frontend over the 10,000-mailbox directory. What its tail shares
// with LIST's is the machine's, not LIST's.
//
//	go test ./imapfront/ -run '^$' -bench 'ListLargeDirectory/^mailboxes=10000$|NoopBesideList' -benchtime 20000x
func BenchmarkNoopBesideList(b *testing.B) { benchCommand(b, 10_000, 10, 0, "NOOP") }

func benchList(b *testing.B, n, clients, rate int) {
	benchCommand(b, n, clients, rate, `LIST "" "*"`)
}

// benchCommand runs command (LIST or NOOP) from clients at once: closed
// loop when rate is 0, else rate commands a second in all, each client's
// at its planned times, timed from them.
func benchCommand(b *testing.B, n, clients, rate int, command string) {
	user := benchListUser(1)
	if listDir.n != n {
		listDir.dir = nil
		before := memInUse()
		dir := newLocalDirectory()
		// The user exists before its mailboxes: UserAdd refuses a name
		// that has mailboxes without a user.
		dir.addUser(b, user, "secret")
		start := time.Now()
		fillListDirectory(b, dir, n)
		b.Logf("%d mailboxes applied in %v", dir.f.MailboxCount(), time.Since(start))
		listDir.perEntry = float64(memInUse()-before) / float64(dir.f.MailboxCount())
		listDir.n, listDir.dir = n, dir
	}
	dir := listDir.dir

	addr, _ := startFrontend(b, testConfig(b, dir))
	conns := make([]*benchListConn, clients)
	for i := range conns {
		conns[i] = dialBenchList(b, addr, user)
		conns[i].cmd = []byte("a " + command + "\r\n")
	}
	want := conns[0].list(b) // 10 own + 5 granted + 50 shared + parents
	if command != "NOOP" && want < 65 {
		b.Fatalf("LIST returned %d lines, want at least 65", want)
	}
	b.Logf("%s returns %d lines", command, want)

	lat := make([][]time.Duration, clients)
	b.ResetTimer()
	cpu0, preempt0 := cpuTime(), preemptions()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := i; j < b.N; j += clients {
				t := time.Now()
				if rate > 0 {
					// Command j is planned at j/rate seconds in. A
					// client still waiting for its last answer then
					// is late because of the server, and the command
					// is timed from its plan; a client that sleeps
					// until then is timed from when it wakes, as Go's
					// timers wake up to a millisecond late here.
					if plan := start.Add(time.Duration(j) * time.Second / time.Duration(rate)); plan.After(t) {
						time.Sleep(plan.Sub(t))
						t = time.Now()
					} else {
						t = plan
					}
				}
				if got := conns[i].list(b); got != want {
					b.Errorf("%s returned %d lines, then %d", command, want, got)
					return
				}
				lat[i] = append(lat[i], time.Since(t))
			}
		}()
	}
	wg.Wait()
	cpu, preempted := cpuTime()-cpu0, preemptions()-preempt0
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*9/10].Microseconds()), "p90-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(all[len(all)*999/1000].Microseconds()), "p999-µs")
	b.ReportMetric(float64(all[len(all)-1].Microseconds()), "max-µs")
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(all)), "cpu-µs/list")
	b.ReportMetric(listDir.perEntry, "B/mailbox")
	// A thread the kernel takes off a core for another stops every
	// goroutine it was running for a time slice: the slow LISTs come in
	// groups of the clients in flight, each as long as a slice.
	b.ReportMetric(float64(preempted)/b.Elapsed().Seconds(), "preempted/s")
}

// benchListConn is a bare IMAP connection, so that the client side
// spends as little as it can of the CPU measured.
type benchListConn struct {
	c   net.Conn
	br  *bufio.Reader
	cmd []byte // the command sent, tagged a
}

func dialBenchList(b *testing.B, addr, user string) *benchListConn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	bc := &benchListConn{c: c, br: bufio.NewReader(c)}
	bc.until(b, "* OK")
	fmt.Fprintf(c, "l LOGIN %s secret\r\n", user)
	if l := bc.until(b, "l "); !strings.HasPrefix(l, "l OK") {
		b.Fatalf("login: %q", l)
	}
	return bc
}

// list sends the connection's command and returns the number of
// untagged lines.
func (bc *benchListConn) list(b *testing.B) int {
	if _, err := bc.c.Write(bc.cmd); err != nil {
		b.Error(err)
		return -1
	}
	n := 0
	for {
		l, err := bc.br.ReadSlice('\n')
		if err != nil {
			b.Error(err)
			return -1
		}
		if l[0] != '*' {
			if !strings.HasPrefix(string(l), "a OK") {
				b.Errorf("%s: %q", bc.cmd, l)
			}
			return n
		}
		n++
	}
}

func (bc *benchListConn) until(b *testing.B, prefix string) string {
	for {
		l, err := bc.br.ReadString('\n')
		if err != nil {
			b.Fatalf("read: %v", err)
		}
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
}

// preemptions counts the times the kernel took one of the process's
// threads off a core while it could still run (involuntary context
// switches).
func preemptions() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Nivcsw
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMachineStalls is the reference for the LIST benchmark's tail:
// one goroutine per core reads the clock in a loop, doing nothing else,
// and counts the gaps of 1 ms or more, when the machine ran something
// else. Every LIST in flight on a stalled core waits for the stall too.
//
//	go test ./imapfront/ -run '^$' -bench MachineStalls -benchtime 5x
func BenchmarkMachineStalls(b *testing.B) {
	const span = time.Second
	procs := runtime.GOMAXPROCS(0)
	gaps := make([][]time.Duration, procs)
	for range b.N {
		var wg sync.WaitGroup
		for p := range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				last := time.Now()
				for end := last.Add(span); last.Before(end); {
					now := time.Now()
					if d := now.Sub(last); d >= time.Millisecond {
						gaps[p] = append(gaps[p], d)
					}
					last = now
				}
			}()
		}
		wg.Wait()
	}
	all := slices.Concat(gaps...)
	slices.Sort(all)
	var stalled time.Duration
	for _, g := range all {
		stalled += g
	}
	seconds := float64(b.N) * span.Seconds() * float64(procs)
	b.ReportMetric(float64(len(all))/seconds, "stalls/core-s")
	b.ReportMetric(100*stalled.Seconds()/seconds, "%stalled")
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "stall-p50-µs")
		b.ReportMetric(float64(all[len(all)-1].Microseconds()), "stall-max-µs")
	}
}
