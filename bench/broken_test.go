package bench

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// breakage is how the test server lies to its clients.
type breakage int

const (
	honest breakage = iota
	// staleExpunge reports each EXPUNGE of one command with the sequence
	// number the message had before the command, as if the server forgot
	// to renumber after the first.
	staleExpunge
	// wrongUID reports UID+1000 for every sequence number above 1.
	wrongUID
	// hideRenamed leaves renamed mailboxes out of LIST.
	hideRenamed
)

// startBrokenServer runs go-imap's in-memory server behind a proxy that
// rewrites its responses as b says, and returns the proxy's address.
func startBrokenServer(t *testing.T, b breakage) string {
	mem := imapmemserver.New()
	u := imapmemserver.NewUser("alice", "pw")
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(u)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}},
		InsecureAuth: true,
		Logger:       nopLogger{},
	})
	backend := serveTest(t, srv.Serve, srv.Close)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				proxyBroken(client, backend, b)
			}()
		}
	}()
	return ln.Addr().String()
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

func serveTest(t *testing.T, serve func(net.Listener) error, stop func() error) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); serve(ln) }()
	t.Cleanup(func() { stop(); <-done })
	return ln.Addr().String()
}

var (
	literalRE = regexp.MustCompile(`\{(\d+)\}\r\n$`)
	expungeRE = regexp.MustCompile(`^\* (\d+) EXPUNGE\r\n$`)
	fetchRE   = regexp.MustCompile(`^\* (\d+) FETCH \(.*\bUID (\d+)`)
)

func proxyBroken(client net.Conn, addr string, b breakage) {
	defer client.Close()
	server, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return
	}
	defer server.Close()
	go func() {
		io.Copy(server, client)
		server.Close()
	}()
	r := bufio.NewReader(server)
	w := bufio.NewWriter(client)
	expunged := 0 // EXPUNGE responses so far to the current command
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch {
		case !strings.HasPrefix(line, "* ") && !strings.HasPrefix(line, "+"):
			expunged = 0 // a tagged response ends the command
		case b == staleExpunge && expungeRE.MatchString(line):
			n, _ := strconv.Atoi(expungeRE.FindStringSubmatch(line)[1])
			line = fmt.Sprintf("* %d EXPUNGE\r\n", n+expunged)
			expunged++
		case b == hideRenamed && strings.HasPrefix(line, "* LIST") && strings.Contains(line, "-renamed"):
			continue
		case b == wrongUID && fetchRE.MatchString(line):
			m := fetchRE.FindStringSubmatch(line)
			if m[1] != "1" {
				uid, _ := strconv.Atoi(m[2])
				line = strings.Replace(line, "UID "+m[2], "UID "+strconv.Itoa(uid+1000), 1)
			}
		}
		w.WriteString(line)
		if m := literalRE.FindStringSubmatch(line); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			if _, err := io.CopyN(w, r, n); err != nil {
				return
			}
		}
		if r.Buffered() == 0 {
			if w.Flush() != nil {
				return
			}
		}
	}
}

func runAgainst(t *testing.T, addr string) *Result {
	t.Helper()
	res, err := RunIMAP(testcluster.Ctx(t), IMAPConfig{
		Addr: addr, Users: []Credential{{"alice", "pw"}},
		Clients: 3, Duration: 1500 * time.Millisecond, SessionOps: 20, Size: 1000, Seed: 7,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestIMAPHonestMemoryServer(t *testing.T) {
	res := runAgainst(t, startBrokenServer(t, honest))
	if err := res.Err(); err != nil {
		t.Fatalf("an honest server: %v\n%s", err, strings.Join(res.Examples, "\n"))
	}
	if o, _ := res.Op("expunge"); o.Count == 0 {
		t.Fatal("the run did no EXPUNGE: it checked nothing about renumbering")
	}
	res, err := RunIMAP(testcluster.Ctx(t), IMAPConfig{
		Addr: startBrokenServer(t, honest), Users: []Credential{{"alice", "pw"}},
		Clients: 2, Duration: time.Second, KeepOpen: true, Size: 500, Seed: 9,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil {
		t.Fatalf("an honest server, sessions kept open: %v", err)
	}
	if o, _ := res.Op("login"); o.Count != 2 {
		t.Fatalf("%d logins with sessions kept open by 2 clients", o.Count)
	}
}

func TestIMAPFindsStaleExpunge(t *testing.T) {
	res := runAgainst(t, startBrokenServer(t, staleExpunge))
	if res.Violations == 0 {
		t.Fatal("a server that does not renumber after EXPUNGE passed")
	}
	if !anyContains(res.Examples, "EXPUNGE") {
		t.Errorf("no violation names EXPUNGE:\n%s", strings.Join(res.Examples, "\n"))
	}
	t.Logf("%d violations, first: %s", res.Violations, res.Examples[0])
}

func TestIMAPFindsWrongUID(t *testing.T) {
	res := runAgainst(t, startBrokenServer(t, wrongUID))
	if res.Violations == 0 {
		t.Fatal("a server that reports wrong UIDs passed")
	}
	if !anyContains(res.Examples, "UID") {
		t.Errorf("no violation names a UID:\n%s", strings.Join(res.Examples, "\n"))
	}
	t.Logf("%d violations, first: %s", res.Violations, res.Examples[0])
}

func anyContains(list []string, s string) bool {
	for _, x := range list {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}
