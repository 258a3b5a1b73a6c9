package imapfront_test

import (
	"bufio"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rookery-mail/rookery/imapfront"
	"github.com/rookery-mail/rookery/internal/testcluster"
)

// sortSession speaks IMAP line by line to a server, for SORT and THREAD
// whose answers are single lines: it numbers its tags t1, t2 ... so that
// two servers given one script see the same tags.
type sortSession struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
	n  int
}

func dialSort(t *testing.T, addr string) *sortSession {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := &sortSession{t: t, c: c, br: bufio.NewReader(c)}
	if g := s.read(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	return s
}

func loginSort(t *testing.T, addr string) *sortSession {
	s := dialSort(t, addr)
	s.ok("LOGIN alice " + testcluster.Password)
	return s
}

func (s *sortSession) read() string {
	s.t.Helper()
	s.c.SetReadDeadline(time.Now().Add(60 * time.Second))
	l, err := s.br.ReadString('\n')
	if err != nil {
		s.t.Fatalf("read: %v (got %q)", err, l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

func (s *sortSession) write(text string) {
	s.t.Helper()
	if _, err := s.c.Write([]byte(text)); err != nil {
		s.t.Fatal(err)
	}
}

// do sends one command line and returns the untagged lines and the tagged
// one without its tag.
func (s *sortSession) do(cmd string) (untagged []string, tagged string) {
	s.t.Helper()
	s.n++
	tag := "t" + strconv.Itoa(s.n)
	s.write(tag + " " + cmd + "\r\n")
	return s.until(tag)
}

func (s *sortSession) until(tag string) (untagged []string, tagged string) {
	s.t.Helper()
	for {
		l := s.read()
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return untagged, rest
		}
		untagged = append(untagged, l)
	}
}

// ok runs cmd, which must succeed, and returns its untagged lines.
func (s *sortSession) ok(cmd string) []string {
	s.t.Helper()
	untagged, tagged := s.do(cmd)
	if !strings.HasPrefix(tagged, "OK") {
		s.t.Fatalf("%s: %s (untagged %q)", cmd, tagged, untagged)
	}
	return untagged
}

// answer runs cmd and returns its one untagged line that starts with
// prefix ("" when there is none), failing on any other untagged line.
func (s *sortSession) answer(cmd, prefix string) string {
	s.t.Helper()
	got := ""
	for _, l := range s.ok(cmd) {
		if !strings.HasPrefix(l, prefix) || got != "" {
			s.t.Fatalf("%s: unexpected %q", cmd, l)
		}
		got = l
	}
	return got
}

// appendAt APPENDs msg to mailbox with an internal date, in a literal.
func (s *sortSession) appendAt(mailbox, date, msg string) {
	s.t.Helper()
	s.n++
	tag := "t" + strconv.Itoa(s.n)
	s.write(fmt.Sprintf("%s APPEND %s %q {%d}\r\n", tag, mailbox, date, len(msg)))
	if l := s.read(); !strings.HasPrefix(l, "+") {
		s.t.Fatalf("APPEND: %q", l)
	}
	s.write(msg + "\r\n")
	if _, tagged := s.until(tag); !strings.HasPrefix(tagged, "OK") {
		s.t.Fatalf("APPEND: %s", tagged)
	}
}

// uids are the mailbox's UIDs in sequence order.
func (s *sortSession) uids() []string {
	s.t.Helper()
	l := s.answer("UID SEARCH ALL", "* SEARCH")
	return strings.Fields(strings.TrimPrefix(l, "* SEARCH"))
}

// asUIDs replaces the sequence numbers in a SORT or THREAD answer by UIDs.
func asUIDs(answer string, uids []string) string {
	var b strings.Builder
	num := ""
	flush := func() {
		if num != "" {
			n, _ := strconv.Atoi(num)
			b.WriteString(uids[n-1])
			num = ""
		}
	}
	for _, c := range answer {
		if c >= '0' && c <= '9' {
			num += string(c)
			continue
		}
		flush()
		b.WriteRune(c)
	}
	flush()
	return b.String()
}

// plans is a small mailbox whose orders are worked out by hand in
// checkPlans: each message with the internal date it is appended with.
var plans = []struct{ date, msg string }{
	{"01-Jan-2006 10:01:00 +0000", mail("Re: plans", "Tue, 03 Jan 2006 09:00:00 +0000", "bob@x.org", "<p2@x>", "References: <p1@x>")},
	{"01-Jan-2006 10:03:00 +0000", mail("plans", "Mon, 02 Jan 2006 09:00:00 +0000", "alice@x.org", "<p1@x>")},
	{"01-Jan-2006 10:02:00 +0000", mail("[fwd: plans]", "Wed, 04 Jan 2006 09:00:00 +0000", "carol@x.org", "<p3@x>", "In-Reply-To: <p2@x>")},
	{"01-Jan-2006 12:00:00 +0200", mail("lunch", "Mon, 02 Jan 2006 12:00:00 +0200", "Dave <dave@x.org>", "<l1@x>")},
	{"01-Jan-2006 10:05:00 +0000", mail("Re: lunch", "", "alice@x.org", "<l2@x>", "References: <l1@x>")},
	{"01-Jan-2006 10:04:00 +0000", mail("Zoo", "Mon, 02 Jan 2006 08:00:00 -0100", "zed@x.org", "")},
}

// mail is a message with the given header fields ("" leaves one out)
// and any more header lines.
func mail(subject, date, from, msgID string, more ...string) string {
	h := []string{"From: " + from, "To: team@x.org"}
	if subject != "" {
		h = append(h, "Subject: "+subject)
	}
	if date != "" {
		h = append(h, "Date: "+date)
	}
	if msgID != "" {
		h = append(h, "Message-ID: "+msgID)
	}
	h = append(h, more...)
	return strings.Join(h, "\r\n") + "\r\n\r\nbody of " + subject + "\r\n"
}

func appendPlans(s *sortSession, mailbox string) {
	for _, p := range plans {
		s.appendAt(mailbox, p.date, p.msg)
	}
}

// checkPlans checks SORT, THREAD and ESORT on the selected plans mailbox.
// Sent dates in UTC: 5 has no Date and is sent at its arrival, 1 Jan
// 10:05; 2 and 6 on 2 Jan 09:00 (a tie: mailbox order); 4 at 10:00; 1 on
// 3 Jan; 3 on 4 Jan. Arrivals: 4, 1, 3, 2, 6, 5. Base subjects: lunch
// (4, 5), plans (1, 2, 3), zoo (6). References: 2 is 1's parent, 1 is
// 3's (In-Reply-To), 4 is 5's.
func checkPlans(t *testing.T, s *sortSession) {
	t.Helper()
	uids := s.uids()
	for _, tc := range []struct{ cmd, want string }{
		{"SORT (SUBJECT) UTF-8 ALL", "* SORT 4 5 1 2 3 6"},
		{"SORT (DATE) UTF-8 ALL", "* SORT 5 2 6 4 1 3"},
		{"SORT (REVERSE DATE) UTF-8 ALL", "* SORT 3 1 4 2 6 5"}, // the tie is not reversed
		{"SORT (ARRIVAL) US-ASCII ALL", "* SORT 4 1 3 2 6 5"},
		{"SORT (FROM) UTF-8 ALL", "* SORT 2 5 1 3 4 6"},
		{"SORT (SUBJECT REVERSE DATE) UTF-8 ALL", "* SORT 4 5 3 1 2 6"},
		{"SORT (DATE) UTF-8 SUBJECT plans", "* SORT 2 1 3"},
		{"SORT (DATE) UTF-8 SUBJECT nothing", "* SORT"},
		{"SORT RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 ALL", `* ESEARCH (TAG "t%d") MIN 5 MAX 3 ALL 5,2,6,4,1,3 COUNT 6`},
		{"SORT RETURN (COUNT) (DATE) UTF-8 NOT SUBJECT plans", `* ESEARCH (TAG "t%d") COUNT 3`},
		{"THREAD REFERENCES UTF-8 ALL", "* THREAD (2 1 3)(6)(4 5)"},
		{"THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (5 4)(2 (1)(3))(6)"},
		{"THREAD REFERENCES UTF-8 NOT FROM alice", "* THREAD (6)(4)(1 3)"}, // 1 loses its parent 2: a root, sent last
	} {
		want := tc.want
		if strings.Contains(want, "%d") {
			want = fmt.Sprintf(want, s.n+1)
		}
		if got := s.answer(tc.cmd, "* "); got != want {
			t.Errorf("%s: %q, want %q", tc.cmd, got, want)
		}
		if strings.Contains(tc.want, "ESEARCH") {
			continue // its TAG holds a number; UID ESORT is checked below
		}
		uidCmd, uidWant := "UID "+tc.cmd, asUIDs(want, uids)
		if got := s.answer(uidCmd, "* "); got != uidWant {
			t.Errorf("%s: %q, want %q", uidCmd, got, uidWant)
		}
	}
	want := fmt.Sprintf(`* ESEARCH (TAG "t%d") UID MIN %s COUNT 6`, s.n+1, uids[2])
	if got := s.answer("UID SORT RETURN (MIN COUNT) (REVERSE DATE) UTF-8 ALL", "* ESEARCH"); got != want {
		t.Errorf("UID ESORT: %q, want %q", got, want)
	}
}

// SORT and THREAD on a mailbox whose primary is on another backend than
// the session's first mailbox: the session moves to the second backend's
// connection and sorts there, with go-imap's client as well as raw lines.
func TestSortOnAnotherBackend(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1})
	c.AddUser("alice", 0)
	c.Create(1, "user/alice/Archive")
	addr := c.Frontends[0].IMAPAddr

	pre := dialSort(t, addr)
	caps := pre.answer("CAPABILITY", "* CAPABILITY")
	if strings.Contains(caps, "SORT") || strings.Contains(caps, "THREAD") {
		t.Errorf("before login: %s", caps)
	}
	s := loginSort(t, addr)
	caps = s.answer("CAPABILITY", "* CAPABILITY")
	for _, c := range []string{" SORT ", " THREAD=ORDEREDSUBJECT ", " THREAD=REFERENCES ", " ESORT "} {
		if !strings.Contains(caps+" ", c) {
			t.Errorf("after login, no%s: %s", c, caps)
		}
	}
	s.ok("SELECT INBOX")
	if got := s.answer("SORT (DATE) UTF-8 ALL", "* "); got != "* SORT" {
		t.Errorf("empty INBOX: %q", got)
	}
	appendPlans(s, "Archive")
	s.ok("SELECT Archive")
	checkPlans(t, s)

	cl := dialLogin(t, addr, nil)
	if _, err := cl.Select("Archive", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	nums, err := cl.Sort(&imapclient.SortOptions{
		SearchCriteria: &imap.SearchCriteria{},
		SortCriteria:   []imapclient.SortCriterion{{Key: imapclient.SortKeySubject}, {Key: imapclient.SortKeyDate, Reverse: true}},
	}).Wait()
	if err != nil || fmt.Sprint(nums) != "[4 5 3 1 2 6]" {
		t.Errorf("go-imap SORT: %v %v", nums, err)
	}
	// go-imap's client reads one thread only: it wants a space between
	// the thread lists RFC 5256 writes side by side.
	threads, err := cl.Thread(&imapclient.ThreadOptions{Algorithm: imap.ThreadReferences,
		SearchCriteria: &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "plans"}}}}).Wait()
	if err != nil || len(threads) != 1 || fmt.Sprint(threads[0].Chain) != "[2 1 3]" {
		t.Errorf("go-imap THREAD: %+v %v", threads, err)
	}
}

// What other sessions do while a SORT runs reaches the client, and only
// where RFC 5256 lets it: no EXPUNGE during SORT or THREAD, whose numbers
// are the client's as they were when it asked; EXPUNGE may come during
// UID SORT. EXISTS and flag updates come when the backend sends them.
func TestSortKeepsTheClientsNumbers(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	addr := c.Frontends[0].IMAPAddr
	a := loginSort(t, addr)
	appendPlans(a, "INBOX")
	a.ok("SELECT INBOX")
	uids := a.uids()
	b := loginSort(t, addr)
	b.ok("SELECT INBOX")
	b.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
	b.ok("EXPUNGE")
	b.ok("STORE 2 +FLAGS.SILENT (\\Flagged)")

	// Message 3 is gone, but 4, 5 and 6 keep their numbers until the
	// client hears the EXPUNGE, which it does not during SORT.
	untagged, tagged := a.do("SORT (DATE) UTF-8 ALL")
	if !strings.HasPrefix(tagged, "OK") || !slices.Contains(untagged, "* SORT 5 2 6 4 1") {
		t.Fatalf("SORT after another session's EXPUNGE: %q %s", untagged, tagged)
	}
	flagged := false
	for _, l := range untagged {
		if strings.Contains(l, "EXPUNGE") {
			t.Fatalf("EXPUNGE during SORT: %q", untagged)
		}
		flagged = flagged || strings.HasPrefix(l, "* 2 FETCH") && strings.Contains(l, `\Flagged`)
	}
	untagged = a.ok("NOOP")
	if !slices.Contains(untagged, "* 3 EXPUNGE") {
		t.Fatalf("NOOP after SORT: %q", untagged)
	}
	for _, l := range untagged {
		flagged = flagged || strings.HasPrefix(l, "* 2 FETCH") && strings.Contains(l, `\Flagged`)
	}
	if !flagged {
		t.Error("the client never heard of the flag another session set")
	}
	if got := a.answer("THREAD REFERENCES UTF-8 ALL", "* THREAD"); got != "* THREAD (2 1)(5)(3 4)" {
		t.Errorf("THREAD after the EXPUNGE: %q", got)
	}

	// A new message and an expunge during UID SORT: both reach the
	// client, during the command or after it, and the numbers stay right.
	b.appendAt("INBOX", "01-Jan-2006 09:00:00 +0000", mail("early", "Sun, 01 Jan 2006 09:00:00 +0000", "amy@x.org", "<e@x>"))
	b.ok("NOOP")
	b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
	b.ok("EXPUNGE")
	untagged, tagged = a.do("UID SORT (DATE) UTF-8 ALL")
	untagged = append(untagged, a.ok("NOOP")...)
	var heard []string
	for _, l := range untagged {
		if strings.HasSuffix(l, " EXPUNGE") || strings.HasSuffix(l, " EXISTS") {
			heard = append(heard, l)
		}
	}
	if !strings.HasPrefix(tagged, "OK") || !slices.Contains(heard, "* 1 EXPUNGE") || !slices.Contains(heard, "* 6 EXISTS") {
		t.Fatalf("UID SORT with an expunge and new mail: %q %s", untagged, tagged)
	}
	// Left: old 2, 4, 5, 6 and the new one; by date 5, 2, 6, 4 (old
	// numbers), and the new one, sent first, may be in or out.
	want := fmt.Sprintf("* SORT %s %s %s %s", uids[4], uids[1], uids[5], uids[3])
	if got := firstWith(untagged, "* SORT"); got != want && !strings.HasPrefix(got, "* SORT ") {
		t.Errorf("UID SORT: %q, want %q", got, want)
	}
	if got := a.answer("SORT (DATE) UTF-8 ALL", "* SORT"); got != "* SORT 5 3 1 4 2" {
		t.Errorf("SORT after it all: %q", got)
	}
}

func firstWith(lines []string, prefix string) string {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// Bad SORT and THREAD commands get one tagged BAD or NO and change
// nothing: no untagged response, the saved search result kept, the
// session as it was.
func TestSortRefusesBadInput(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	s := loginSort(t, c.Frontends[0].IMAPAddr)
	appendPlans(s, "INBOX")
	for _, cmd := range []string{"SORT (DATE) UTF-8 ALL", "UID SORT (DATE) UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL", "UID THREAD REFERENCES UTF-8 ALL"} {
		if untagged, tagged := s.do(cmd); !strings.HasPrefix(tagged, "BAD") || len(untagged) > 0 {
			t.Errorf("%s with no mailbox selected: %q %s", cmd, untagged, tagged)
		}
	}
	s.ok("SELECT INBOX")
	s.ok("SEARCH RETURN (SAVE) 2:3")
	for _, tc := range []struct{ cmd, want string }{
		{"SORT () UTF-8 ALL", "BAD"},
		{"SORT (BOGUS) UTF-8 ALL", "BAD"},
		{"SORT RETURN (SAVE) (BOGUS) UTF-8 ALL", "BAD"},
		{"SORT (REVERSE) UTF-8 ALL", "BAD"},
		{"SORT (SUBJECT) ALL", "BAD"},
		{"SORT (SUBJECT)", "BAD"},
		{"SORT (SUBJECT) UTF-8", "BAD"},
		{"SORT (SUBJECT) KOI8-R ALL", "NO [BADCHARSET (US-ASCII UTF-8)]"},
		{"SORT RETURN (SAVE) (SUBJECT) KOI8-R ALL", "NO [BADCHARSET (US-ASCII UTF-8)]"},
		{"SORT RETURN (PARTIAL 1:2) (SUBJECT) UTF-8 ALL", "BAD"},
		{"SORT (SUBJECT) UTF-8 BOGUSKEY", "BAD"}, // checked as SEARCH's keys are
		{"UID THREAD REFERENCES UTF-8 NOT", "BAD"},
		{"SORT (SUBJECT) UTF-8 SUBJECT", "BAD"},
		{"THREAD BOGUS UTF-8 ALL", "BAD"},
		{"THREAD REFERENCES UTF-8", "BAD"},
		{"UID THREAD REFERENCES KOI8-R ALL", "NO [BADCHARSET (US-ASCII UTF-8)]"},
	} {
		untagged, tagged := s.do(tc.cmd)
		if !strings.HasPrefix(tagged, tc.want) || len(untagged) > 0 {
			t.Errorf("%s: %q %s, want %s", tc.cmd, untagged, tagged, tc.want)
		}
	}
	if got := s.answer("SEARCH $", "* SEARCH"); got != "* SEARCH 2 3" {
		t.Errorf("saved result after the refusals: %q", got)
	}
	if got := s.answer("SORT (DATE) UTF-8 $", "* SORT"); got != "* SORT 2 3" {
		t.Errorf("SORT of the saved result: %q", got)
	}
	// A literal in the keys goes to the backend as a literal.
	s.n++
	s.write(fmt.Sprintf("t%d SORT (DATE) UTF-8 SUBJECT {5}\r\n", s.n))
	if l := s.read(); !strings.HasPrefix(l, "+") {
		t.Fatalf("no continuation for the literal: %q", l)
	}
	s.write("plans\r\n")
	if untagged, tagged := s.until(fmt.Sprintf("t%d", s.n)); !strings.HasPrefix(tagged, "OK") || !slices.Equal(untagged, []string{"* SORT 2 1 3"}) {
		t.Errorf("SORT with a literal: %q %s", untagged, tagged)
	}
}

// A mailbox of 600 with searches that match every other message: the
// backend's answers are long lines, the FETCH of the sort keys is cut
// into many (here at 64 bytes of set each), and a thread is 300 deep.
func TestSortLargeMailbox(t *testing.T) {
	imapfront.SetMaxFetchSet(t, 64)
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	s := loginSort(t, c.Frontends[0].IMAPAddr)
	const n = 600
	base := time.Date(2006, 1, 1, 0, 0, 0, 0, time.UTC)
	var batch strings.Builder
	for i := 1; i <= n; i++ {
		parity := map[bool]string{true: "odd", false: "even"}[i%2 == 1]
		refs := ""
		if i > 2 {
			refs = fmt.Sprintf("References: <m%d@x>", i-2)
		}
		msg := mail(fmt.Sprintf("m%03d %s", i, parity), base.Add(-time.Duration(i)*time.Minute).Format(time.RFC1123Z),
			"a@x.org", fmt.Sprintf("<m%d@x>", i), refs)
		fmt.Fprintf(&batch, "a%d APPEND INBOX %q {%d+}\r\n%s\r\n", i, base.Add(time.Duration(i)*time.Minute).Format("02-Jan-2006 15:04:05 -0700"), len(msg), msg)
	}
	// LITERAL+ lets the APPENDs go in one write, read while it is sent.
	go s.c.Write([]byte(batch.String()))
	for i := 1; i <= n; i++ {
		if _, tagged := s.until(fmt.Sprintf("a%d", i)); !strings.HasPrefix(tagged, "OK") {
			t.Fatalf("APPEND %d: %s", i, tagged)
		}
	}
	s.ok("SELECT INBOX")
	uids := s.uids()
	var odd, even, all []string
	for i := 1; i <= n; i++ {
		all = append(all, strconv.Itoa(i))
		if i%2 == 1 {
			odd = append([]string{strconv.Itoa(i)}, odd...)
		} else {
			even = append(even, strconv.Itoa(i))
		}
	}
	byDate := "* SORT " + strings.Join(odd, " ")
	if got := s.answer("SORT (DATE) UTF-8 SUBJECT odd", "* SORT"); got != byDate {
		t.Errorf("SORT (DATE) of the odd ones: %.80q...", got)
	}
	if got := s.answer("UID SORT (DATE) UTF-8 SUBJECT odd", "* SORT"); got != asUIDs(byDate, uids) {
		t.Errorf("UID SORT (DATE) of the odd ones: %.80q...", got)
	}
	want := fmt.Sprintf(`* ESEARCH (TAG "t%d") ALL %s COUNT %d`, s.n+1, strings.Join(even, ","), n/2)
	if got := s.answer("SORT RETURN (ALL COUNT) (ARRIVAL) UTF-8 SUBJECT even", "* ESEARCH"); got != want {
		t.Errorf("ESORT of the even ones: %.80q...", got)
	}
	if got := s.answer("SORT (SUBJECT) UTF-8 ALL", "* SORT"); got != "* SORT "+strings.Join(all, " ") {
		t.Errorf("SORT (SUBJECT): %.80q...", got)
	}
	slices.Reverse(odd)
	if got := s.answer("THREAD REFERENCES UTF-8 SUBJECT odd", "* THREAD"); got != "* THREAD ("+strings.Join(odd, " ")+")" {
		t.Errorf("THREAD of the odd ones: %.80q...", got)
	}
}
