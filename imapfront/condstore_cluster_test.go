package imapfront_test

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// modseqRE finds a MODSEQ fetch item's value.
var modseqRE = regexp.MustCompile(`MODSEQ \((\d+)\)`)

// modseqOf is the MODSEQ of a FETCH response line, failing without one.
func modseqOf(t *testing.T, line string) uint64 {
	t.Helper()
	m := modseqRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no MODSEQ in %q", line)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// highestOf is the HIGHESTMODSEQ an untagged OK among lines gives.
func highestOf(t *testing.T, lines []string) uint64 {
	t.Helper()
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(l, "* OK [HIGHESTMODSEQ "); ok {
			n, err := strconv.ParseUint(rest[:strings.IndexByte(rest, ']')], 10, 64)
			if err != nil {
				t.Fatalf("HIGHESTMODSEQ: %q", l)
			}
			return n
		}
	}
	t.Fatalf("no HIGHESTMODSEQ in %q", lines)
	return 0
}

// fetchModSeqs runs FETCH 1:* (FLAGS MODSEQ) and returns each message's
// line by sequence number.
func fetchModSeqs(s *sortSession, n int) []string {
	s.t.Helper()
	lines := s.ok("FETCH 1:* (FLAGS MODSEQ)")
	if len(lines) != n {
		s.t.Fatalf("FETCH 1:* (FLAGS MODSEQ): %d lines, want %d: %q", len(lines), n, lines)
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, "* "+strconv.Itoa(i+1)+" FETCH (") || !strings.Contains(l, "FLAGS (") {
			s.t.Fatalf("FETCH line %d: %q", i+1, l)
		}
		modseqOf(s.t, l)
	}
	return lines
}

// CONDSTORE (RFC 7162 section 3.1) through the frontend, on a mailbox
// whose primary is another backend than the INBOX's.
func TestCondstoreOnAnotherBackend(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1})
	c.AddUser("alice", 0)
	c.Create(1, "user/alice/Archive")
	s := loginSort(t, c.Frontends[0].IMAPAddr)
	if caps := s.answer("CAPABILITY", "* CAPABILITY"); !strings.Contains(caps, " CONDSTORE") {
		t.Fatalf("CONDSTORE not offered: %q", caps)
	}
	for i := range 4 {
		s.appendAt("Archive", "01-Jan-2024 10:00:00 +0000", "Subject: m"+strconv.Itoa(i)+"\r\n\r\nbody\r\n")
	}
	// A session that has not enabled it hears of no modseqs.
	s.ok("SELECT Archive")
	if l := s.answer("FETCH 1 (FLAGS)", "* 1 FETCH"); strings.Contains(l, "MODSEQ") {
		t.Fatalf("MODSEQ before CONDSTORE was enabled: %q", l)
	}
	highest := highestOf(t, s.ok("SELECT Archive (CONDSTORE)"))
	lines := fetchModSeqs(s, 4)
	for _, l := range lines {
		if m := modseqOf(t, l); m > highest {
			t.Fatalf("a MODSEQ above SELECT's HIGHESTMODSEQ %d: %q", highest, l)
		}
	}
	m2 := modseqOf(t, lines[1])

	// STORE shows each changed message with its new MODSEQ.
	l := s.answer(`STORE 1 +FLAGS (\Seen)`, "* 1 FETCH")
	if !strings.Contains(l, `FLAGS (\Seen)`) || modseqOf(t, l) <= highest {
		t.Fatalf("STORE: %q (highest was %d)", l, highest)
	}
	m1 := modseqOf(t, l)

	// CHANGEDSINCE finds only what changed after it.
	if l := s.answer("FETCH 1:* (FLAGS) (CHANGEDSINCE "+strconv.FormatUint(highest, 10)+")", "* "); !strings.HasPrefix(l, "* 1 FETCH") || modseqOf(t, l) != m1 {
		t.Fatalf("CHANGEDSINCE %d: %q", highest, l)
	}
	if got := s.ok("UID FETCH 1:* (UID) (CHANGEDSINCE " + strconv.FormatUint(m1, 10) + ")"); len(got) != 0 {
		t.Fatalf("CHANGEDSINCE the highest modseq: %q", got)
	}

	// UNCHANGEDSINCE below a message's modseq fails it: MODIFIED, nothing
	// changed.
	untagged, tagged := s.do(`STORE 2 (UNCHANGEDSINCE ` + strconv.FormatUint(m2-1, 10) + `) +FLAGS (\Flagged)`)
	if tagged != "OK [MODIFIED 2] Conditional STORE failed" || len(untagged) != 0 {
		t.Fatalf("STORE UNCHANGEDSINCE below: %q %q", untagged, tagged)
	}
	if l := s.answer("FETCH 2 (FLAGS MODSEQ)", "* 2 FETCH"); strings.Contains(l, `\Flagged`) || modseqOf(t, l) != m2 {
		t.Fatalf("a failed conditional STORE changed the message: %q", l)
	}
	// At its modseq it passes; .SILENT still tells the new MODSEQ, with
	// the flags it goes with.
	l = s.answer(`STORE 2 (UNCHANGEDSINCE `+strconv.FormatUint(m2, 10)+`) +FLAGS.SILENT (\Flagged)`, "* 2 FETCH")
	if !strings.Contains(l, `FLAGS (\Flagged)`) || modseqOf(t, l) <= m1 {
		t.Fatalf("STORE .SILENT UNCHANGEDSINCE: %q", l)
	}
	m2 = modseqOf(t, l)

	// A UID STORE that fails some: MODIFIED names their UIDs, and a new
	// keyword is announced before the first FETCH that shows it.
	uids := s.uids()
	untagged, tagged = s.do(`UID STORE 1:* (UNCHANGEDSINCE ` + strconv.FormatUint(highest, 10) + `) +FLAGS ($Junk)`)
	if want := "OK [MODIFIED " + uids[0] + ":" + uids[1] + "] Conditional STORE failed"; tagged != want {
		t.Fatalf("UID STORE: %q, want %q", tagged, want)
	}
	if len(untagged) < 3 || !strings.HasPrefix(untagged[0], "* FLAGS (") || !strings.Contains(untagged[0], "$Junk") {
		t.Fatalf("UID STORE of a new keyword: %q", untagged)
	}
	var fetches []string
	for _, l := range untagged {
		if strings.Contains(l, " FETCH ") {
			if !strings.Contains(l, "$Junk") {
				t.Fatalf("UID STORE: %q", l)
			}
			fetches = append(fetches, l)
		}
	}
	if len(fetches) != 2 {
		t.Fatalf("UID STORE: %d FETCH responses, want 2: %q", len(fetches), untagged)
	}
	m4 := modseqOf(t, fetches[1])

	// SEARCH MODSEQ: the messages changed at or after it, and the highest
	// modseq of what it found.
	if got, want := s.answer("SEARCH MODSEQ "+strconv.FormatUint(m2, 10), "* SEARCH"), "* SEARCH 2 3 4 (MODSEQ "+strconv.FormatUint(m4, 10)+")"; got != want {
		t.Fatalf("SEARCH MODSEQ: %q, want %q", got, want)
	}
	if got := s.answer(`SEARCH MODSEQ "/flags/\\Seen" all `+strconv.FormatUint(m4+1, 10), "* SEARCH"); got != "* SEARCH" {
		t.Fatalf("SEARCH MODSEQ above every modseq: %q", got)
	}
	if got, want := s.answer("UID SEARCH RETURN (ALL COUNT) MODSEQ "+strconv.FormatUint(m1, 10)+" NOT 2", "* ESEARCH"), "UID ALL "+uids[0]+","+uids[2]+":"+uids[3]+" COUNT 3 MODSEQ "+strconv.FormatUint(m4, 10); !strings.HasSuffix(got, want) {
		t.Fatalf("UID SEARCH RETURN (ALL COUNT) MODSEQ: %q, want it to end %q", got, want)
	}

	// STATUS HIGHESTMODSEQ, alone and with another item, of the selected
	// mailbox and of one on another backend.
	if got, want := s.answer("STATUS Archive (HIGHESTMODSEQ)", "* STATUS"), `* STATUS "Archive" (HIGHESTMODSEQ `+strconv.FormatUint(m4, 10)+")"; got != want {
		t.Fatalf("STATUS: %q, want %q", got, want)
	}
	if got := s.answer("STATUS INBOX (MESSAGES HIGHESTMODSEQ)", "* STATUS"); !regexp.MustCompile(`^\* STATUS INBOX \(MESSAGES 0 HIGHESTMODSEQ \d+\)$`).MatchString(got) {
		t.Fatalf("STATUS INBOX: %q", got)
	}

	// Another session's change reaches this one with its MODSEQ.
	o := loginSort(t, c.Frontends[0].IMAPAddr)
	o.ok("SELECT Archive")
	o.ok(`STORE 3 +FLAGS (\Answered)`)
	var seen string
	for _, l := range s.ok("NOOP") {
		if strings.HasPrefix(l, "* 3 FETCH") {
			seen = l
		}
	}
	if !strings.Contains(seen, `\Answered`) || modseqOf(t, seen) <= m4 {
		t.Fatalf("another session's STORE: %q", seen)
	}
	// And what FETCH shows agrees with CHANGEDSINCE: nothing after the
	// highest MODSEQ it showed.
	var top uint64
	for _, l := range fetchModSeqs(s, 4) {
		top = max(top, modseqOf(t, l))
	}
	if got := s.ok("FETCH 1:* (FLAGS) (CHANGEDSINCE " + strconv.FormatUint(top, 10) + ")"); len(got) != 0 {
		t.Fatalf("changes after the highest MODSEQ shown: %q", got)
	}
	// Bad modifiers are BAD, and change nothing.
	for _, bad := range []string{"FETCH 1 (FLAGS) (CHANGEDSINCE x)", "FETCH 1 (FLAGS) (BOGUS 1)", `STORE 1 (UNCHANGEDSINCE -1) +FLAGS (\Seen)`, "SEARCH MODSEQ x", `SEARCH MODSEQ "/flags/\\Seen" nope 1`, "SELECT Archive (BOGUS)"} {
		if _, tagged := s.do(bad); !strings.HasPrefix(tagged, "BAD") {
			t.Fatalf("%s: %q, want BAD", bad, tagged)
		}
	}
}

// ENABLE CONDSTORE with a mailbox selected tells its HIGHESTMODSEQ, and
// so does every SELECT after.
func TestCondstoreEnable(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	s := loginSort(t, c.Frontends[0].IMAPAddr)
	s.appendAt("INBOX", "01-Jan-2024 10:00:00 +0000", "Subject: a\r\n\r\nbody\r\n")
	s.ok("SELECT INBOX")
	lines := s.ok("ENABLE CONDSTORE")
	if len(lines) != 2 || lines[0] != "* ENABLED CONDSTORE" {
		t.Fatalf("ENABLE CONDSTORE: %q", lines)
	}
	highestOf(t, lines)
	if l := s.answer("FETCH 1 (FLAGS)", "* 1 FETCH"); !strings.Contains(l, "MODSEQ") {
		t.Fatalf("FETCH FLAGS once CONDSTORE is on: %q", l)
	}
	// A macro and a section go to the backend as written.
	if l := s.answer("FETCH 1 FAST", "* 1 FETCH"); !strings.Contains(l, "RFC822.SIZE") || !strings.Contains(l, "MODSEQ") {
		t.Fatalf("FETCH FAST: %q", l)
	}
	untagged, tagged := s.do("FETCH 1 (MODSEQ BODY.PEEK[HEADER.FIELDS (Subject)])")
	if !strings.HasPrefix(tagged, "OK") || len(untagged) == 0 || strings.Contains(untagged[0], "SUBJECT") || !strings.Contains(untagged[0], "MODSEQ") {
		t.Fatalf("FETCH of a header field: %q %q", untagged, tagged)
	}
	// The saved result of a search, which only the backend knows.
	s.ok("SEARCH RETURN (SAVE) ALL")
	if l := s.answer("FETCH $ (MODSEQ)", "* 1 FETCH"); !strings.Contains(l, "MODSEQ") {
		t.Fatalf("FETCH $ (MODSEQ): %q", l)
	}
	highestOf(t, s.ok("EXAMINE INBOX"))
	if _, tagged := s.do(`STORE 1 +FLAGS (\Seen)`); !strings.HasPrefix(tagged, "NO [CANNOT]") {
		t.Fatalf("STORE in a mailbox opened with EXAMINE: %q", tagged)
	}
	if got := s.ok("ENABLE CONDSTORE"); len(got) != 1 || got[0] != "* ENABLED" {
		t.Fatalf("ENABLE CONDSTORE again: %q", got)
	}
}

// Modseqs survive a failover: the replica shows what the primary showed,
// and its changes come after.
func TestCondstoreAfterFailover(t *testing.T) {
	c, f := replicatedInbox(t)
	s := loginSort(t, f.IMAPAddr)
	for i := range 3 {
		s.appendAt("INBOX", "01-Jan-2024 10:00:00 +0000", "Subject: m"+strconv.Itoa(i)+"\r\n\r\nbody\r\n")
	}
	highestOf(t, s.ok("SELECT INBOX (CONDSTORE)"))
	s.ok(`STORE 2 +FLAGS (\Flagged $Work)`)
	before := fetchModSeqs(s, 3)
	c.Backends[0].Stop()
	markDown(t, c, "b1")
	after := fetchModSeqs(s, 3)
	var top uint64
	for i := range before {
		if before[i] != after[i] {
			t.Fatalf("after the failover message %d shows %q, before %q", i+1, after[i], before[i])
		}
		top = max(top, modseqOf(t, before[i]))
	}
	if got := s.ok("FETCH 1:* (FLAGS) (CHANGEDSINCE " + strconv.FormatUint(top, 10) + ")"); len(got) != 0 {
		t.Fatalf("CHANGEDSINCE after the failover: %q", got)
	}
	l := s.answer(`STORE 3 (UNCHANGEDSINCE `+strconv.FormatUint(top, 10)+`) +FLAGS ($Work)`, "* 3 FETCH")
	if modseqOf(t, l) <= top {
		t.Fatalf("a change on the new primary: %q, not after %d", l, top)
	}
	// The keywords told before the failover are still known: none is
	// announced again in a FLAGS response that would drop the others.
	for _, l := range s.ok(`STORE 1 +FLAGS ($Work)`) {
		if strings.HasPrefix(l, "* FLAGS") && !strings.Contains(l, `\Seen`) {
			t.Fatalf("after the failover a FLAGS response without the system flags: %q", l)
		}
	}
}

// A grant taken away while a CONDSTORE session has the mailbox selected
// takes its STOREs away too: they go through the API, not the backend's
// session, and check the rights of a synced read as the backend does.
func TestCondstoreStoreAfterRevoke(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	c.AddUser("bob", 0)
	a := loginSort(t, c.Frontends[0].IMAPAddr)
	a.ok("CREATE Projects")
	a.appendAt("Projects", "01-Jan-2024 10:00:00 +0000", "Subject: a\r\n\r\nbody\r\n")
	a.ok("SELECT Projects")
	a.ok(`STORE 1 +FLAGS (\Flagged $Work)`)
	a.ok("SETACL Projects bob lrs")
	b := dialSort(t, c.Frontends[0].IMAPAddr)
	b.ok("LOGIN bob " + testcluster.Password)
	b.ok(`SELECT "Other Users/alice/Projects" (CONDSTORE)`)
	// FLAGS replaces every flag: s alone does not allow it.
	if _, tagged := b.do(`STORE 1 FLAGS (\Seen)`); !strings.HasPrefix(tagged, "NO [NOPERM]") {
		t.Fatalf("STORE FLAGS with s alone: %q", tagged)
	}
	b.ok(`STORE 1 +FLAGS (\Seen)`)
	a.ok("DELETEACL Projects bob")
	if _, tagged := b.do(`STORE 1 -FLAGS (\Seen)`); !strings.HasPrefix(tagged, "NO") {
		t.Fatalf("STORE after the grant was taken away: %q", tagged)
	}
	// (bob's \Seen may come first, unasked: both lines show the flags.)
	for _, got := range a.ok("FETCH 1 (FLAGS)") {
		if !strings.Contains(got, `\Seen`) || !strings.Contains(got, "$Work") {
			t.Fatalf("flags after the refused STOREs: %q", got)
		}
	}
}

// flagsRE finds a FETCH response's UID, FLAGS and MODSEQ as the frontend
// writes them.
var flagsRE = regexp.MustCompile(`^\* \d+ FETCH \(UID (\d+) FLAGS \(([^)]*)\) MODSEQ \((\d+)\)`)

// While another session changes flags, every (flags, modseq) a CONDSTORE
// session is shown is one the message had: a modseq never goes back, and
// one modseq never comes with two sets of flags.
func TestCondstorePairsUnderChange(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	s := loginSort(t, c.Frontends[0].IMAPAddr)
	const n = 6
	for i := range n {
		s.appendAt("INBOX", "01-Jan-2024 10:00:00 +0000", "Subject: m"+strconv.Itoa(i)+"\r\n\r\nbody\r\n")
	}
	highestOf(t, s.ok("SELECT INBOX (CONDSTORE)"))
	o := loginSort(t, c.Frontends[0].IMAPAddr)
	o.ok("SELECT INBOX")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 60 {
			op := []string{"+FLAGS", "-FLAGS"}[i%2]
			flag := []string{`\Flagged`, "$Work", `\Answered`}[i%3]
			// Not o.write and o.read, which may end the test: this is
			// another goroutine.
			tag := "o" + strconv.Itoa(i)
			if _, err := o.c.Write([]byte(tag + " STORE " + strconv.Itoa(1+i%n) + ":" + strconv.Itoa(1+(i*7)%n) + " " + op + " (" + flag + ")\r\n")); err != nil {
				return
			}
			for {
				l, err := o.br.ReadString('\n')
				if err != nil {
					return
				}
				if strings.HasPrefix(l, tag+" ") {
					break
				}
			}
		}
	}()
	type seen struct {
		flags  string
		modseq uint64
	}
	last := map[string]seen{}
	byModSeq := map[string]string{}
	check := func(lines []string) {
		for _, l := range lines {
			m := flagsRE.FindStringSubmatch(l)
			if m == nil {
				if strings.Contains(l, " FETCH ") && strings.Contains(l, "FLAGS") {
					t.Fatalf("a FETCH with FLAGS but no MODSEQ: %q", l)
				}
				continue
			}
			uid, modseq := m[1], m[3]
			flags := strings.Join(sortedFields(strings.ReplaceAll(m[2], `\Recent`, "")), " ")
			ms, _ := strconv.ParseUint(modseq, 10, 64)
			if prev, ok := last[uid]; ok && ms < prev.modseq {
				t.Fatalf("uid %s: MODSEQ went back from %d to %d: %q", uid, prev.modseq, ms, l)
			}
			key := uid + "@" + modseq
			if f, ok := byModSeq[key]; ok && f != flags {
				t.Fatalf("uid %s at MODSEQ %s shown with flags %q and %q", uid, modseq, f, flags)
			}
			byModSeq[key] = flags
			last[uid] = seen{flags, ms}
		}
	}
	for i := 0; ; i++ {
		check(s.ok("FETCH 1:* (FLAGS MODSEQ)"))
		check(s.ok("NOOP"))
		select {
		case <-done:
			check(s.ok("NOOP"))
			check(s.ok("FETCH 1:* (FLAGS MODSEQ)"))
			if len(byModSeq) < n {
				t.Fatalf("only %d (uid, modseq) pairs seen", len(byModSeq))
			}
			return
		default:
		}
	}
}

func sortedFields(s string) []string {
	f := strings.Fields(s)
	slices.Sort(f)
	return f
}
