package imapfront_test

import (
	"bufio"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// TestWithinDovecotDifferential appends the same messages with the same
// internal dates (some in far zones, +1400 and -1200, whose day is not the
// UTC day) to Dovecot and to a Rookery frontend, runs one script of
// OLDER and YOUNGER searches (RFC 5032) in every form (SEARCH, UID SEARCH
// with its UIDs read back as message numbers, ESEARCH, SORT, nested in
// NOT, OR and parentheses, beside other keys, with a literal after them)
// and compares the answers and tagged statuses.
func TestWithinDovecotDifferential(t *testing.T) {
	dovecotAddr := testcluster.StartDovecot(t)
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	now := time.Now()
	want := runWithinScript(t, dovecotAddr, now)
	got := runWithinScript(t, c.Frontends[0].IMAPAddr, now)
	for i, cmd := range withinScript {
		t.Logf("%s => %s", cmd, want[i])
		if got[i] != want[i] {
			t.Errorf("%s:\n rookery %q\n dovecot %q", cmd, got[i], want[i])
		}
	}
}

// withinAges are the messages' ages at the start of the test, with the
// zone their internal date is written in.
var withinAges = []struct {
	age  time.Duration
	zone int // seconds east of UTC
}{
	{10 * 24 * time.Hour, 0},
	{30 * time.Hour, 14 * 3600},
	{26 * time.Hour, -12 * 3600},
	{2 * time.Hour, 0},
	{90 * time.Minute, 14 * 3600},
	{30 * time.Minute, -12 * 3600},
	{40 * 24 * time.Hour, 3600},
	{5 * time.Minute, 0},
}

var withinScript = []string{
	"SEARCH YOUNGER 3600",
	"SEARCH OLDER 3600",
	"SEARCH YOUNGER 100000",
	"SEARCH OLDER 100000",
	"SEARCH YOUNGER 1000000000",
	"SEARCH OLDER 1000000000",
	"SEARCH NOT YOUNGER 7000",
	"SEARCH OR YOUNGER 600 OLDER 2000000",
	"SEARCH (YOUNGER 100000 OLDER 3600) SUBJECT m",
	"SEARCH YOUNGER 100000 SUBJECT {2+}\r\nm3",
	"SEARCH YOUNGER 100000 NOT YOUNGER 100000",
	"UID SEARCH YOUNGER 7000",
	"UID SEARCH OLDER 7000 UID 1:*",
	"SEARCH RETURN (COUNT MIN MAX) YOUNGER 100000",
	"SEARCH RETURN (ALL) OLDER 1000",
	"SORT (REVERSE ARRIVAL) UTF-8 YOUNGER 200000",
	"SEARCH YOUNGER 0",
	"SEARCH OLDER -5",
}

var (
	reUIDFetch  = regexp.MustCompile(`^\* (\d+) FETCH \(UID (\d+)\)`)
	reEsearchNo = regexp.MustCompile(`\(TAG "[^"]*"\) ?`)
)

func runWithinScript(t *testing.T, addr string, now time.Time) []string {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(conn)
	// run sends one command and returns its untagged lines and the
	// status of its tagged one.
	n := 0
	run := func(cmd string) ([]string, string) {
		n++
		tag := "w" + strconv.Itoa(n)
		fmt.Fprintf(conn, "%s %s\r\n", tag, cmd)
		var lines []string
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: %s: %v", addr, cmd, err)
			}
			l = strings.TrimRight(l, "\r\n")
			if rest, ok := strings.CutPrefix(l, tag+" "); ok {
				st, _, _ := strings.Cut(rest, " ")
				return lines, st
			}
			if strings.HasPrefix(l, "* ") {
				lines = append(lines, l)
			}
		}
	}
	if _, st := run("LOGIN alice " + testcluster.Password); st != "OK" {
		t.Fatalf("%s: login: %s", addr, st)
	}
	for i, m := range withinAges {
		date := now.Add(-m.age).In(time.FixedZone("", m.zone)).Format("02-Jan-2006 15:04:05 -0700")
		msg := fmt.Sprintf("From: a@example.org\r\nSubject: m%d\r\n\r\nbody %d\r\n", i, i)
		if _, st := run(fmt.Sprintf("APPEND INBOX \"%s\" {%d+}\r\n%s", date, len(msg), msg)); st != "OK" {
			t.Fatalf("%s: APPEND: %s", addr, st)
		}
	}
	if _, st := run("SELECT INBOX"); st != "OK" {
		t.Fatalf("%s: SELECT: %s", addr, st)
	}
	lines, _ := run("FETCH 1:* (UID)")
	seqOf := map[string]string{}
	for _, l := range lines {
		if m := reUIDFetch.FindStringSubmatch(l); m != nil {
			seqOf[m[2]] = m[1]
		}
	}
	var out []string
	for _, cmd := range withinScript {
		lines, st := run(cmd)
		var answer []string
		for _, l := range lines {
			if !strings.HasPrefix(l, "* SEARCH") && !strings.HasPrefix(l, "* ESEARCH") && !strings.HasPrefix(l, "* SORT") {
				continue
			}
			l = reEsearchNo.ReplaceAllString(l, "")
			if strings.HasPrefix(cmd, "UID ") {
				// UIDs differ between the servers; the messages they
				// name do not.
				f := strings.Fields(l)
				for i := 2; i < len(f); i++ {
					if s, ok := seqOf[f[i]]; ok {
						f[i] = "#" + s
					}
				}
				slices.Sort(f[2:])
				l = strings.Join(f, " ")
			}
			answer = append(answer, l)
		}
		out = append(out, st+" "+strings.Join(answer, " | "))
	}
	return out
}
