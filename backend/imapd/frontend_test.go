package imapd_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// TestThroughFrontend runs raw IMAP4rev1 sessions through a real frontend
// against the backend IMAP server, for the behaviours RFC 3501 asks of a
// server that go-imap v2 leaves to it. One cluster serves every subtest;
// each works in a mailbox of its own.
func TestThroughFrontend(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	c.AddUser("bob", 0)
	addr := c.Frontends[0].IMAPAddr
	t.Run("Recent", func(t *testing.T) { testRecent(t, c, addr) })
	t.Run("NewKeywords", func(t *testing.T) { testNewKeywords(t, c, addr) })
	t.Run("EnvelopeGroups", func(t *testing.T) { testEnvelopeGroups(t, c, addr) })
	t.Run("SearchAddresses", func(t *testing.T) { testSearchAddresses(t, c, addr) })
	t.Run("CompactUIDSets", func(t *testing.T) { testCompactUIDSets(t, c, addr) })
	t.Run("ReadOnlyRights", func(t *testing.T) { testReadOnlyRights(t, c, addr) })
}

// testCompactUIDSets: ESEARCH ALL and COPYUID span UIDs that do not exist
// (the odd ones, with one backend owning the even slot); a plain SEARCH
// lists only UIDs that do.
func testCompactUIDSets(t *testing.T, c *testcluster.Cluster, addr string) {
	c.Create(0, "user/alice/Sets")
	c.Create(0, "user/alice/SetsCopy")
	w := loginWire(t, addr, "alice")
	for i, flags := range []string{`\Flagged`, `\Flagged`, `\Flagged`, "", `\Flagged`} {
		w.appendMessage("Sets", flags, message(fmt.Sprintf("m%d", i), "x"))
	}
	w.ok("SELECT Sets")
	want(t, "UID FETCH", w.ok("UID FETCH 1:* UID"), "* 5 FETCH (UID 10)")
	want(t, "plain UID SEARCH", w.ok("UID SEARCH FLAGGED"), "* SEARCH 2 4 6 10")
	lines := w.ok("UID SEARCH RETURN (ALL COUNT) FLAGGED")
	if l := find(lines, "* ESEARCH"); !strings.Contains(l, "ALL 2:6,10") {
		t.Fatalf("ESEARCH: %q, want ALL 2:6,10", lines)
	}
	_, tagged := w.do("UID COPY 2:6 SetsCopy")
	if !regexp.MustCompile(`^OK \[COPYUID \d+ 2:6 2:6\]`).MatchString(tagged) {
		t.Fatalf("UID COPY 2:6: %s, want COPYUID 2:6 2:6", tagged)
	}
	// 2 and 4 are adjacent, 10 is not (6 and 8 exist between).
	_, tagged = w.do("UID COPY 2,4,10 SetsCopy")
	if !regexp.MustCompile(`^OK \[COPYUID \d+ 2:4,10 8:10,12\]`).MatchString(tagged) {
		t.Fatalf("UID COPY 2,4,10: %s, want COPYUID 2:4,10 8:10,12", tagged)
	}
}

// testSearchAddresses: SEARCH FROM/TO/CC/BCC match the display name with
// RFC 2047 encoded words decoded, and "name <address>"
// (RFC 3501 section 6.4.4 leaves the matching to the server; this is
// Dovecot's).
func testSearchAddresses(t *testing.T, c *testcluster.Cluster, addr string) {
	c.Create(0, "user/alice/Addresses")
	w := loginWire(t, addr, "alice")
	msg := func(from, to string) string {
		return "From: " + from + "\r\nTo: " + to + "\r\nSubject: s\r\n\r\nbody\r\n"
	}
	w.appendMessage("Addresses", "", msg("=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jm@example.org>", "bob@example.org"))
	w.appendMessage("Addresses", "", msg(`"Example, Alice" <alice@example.org>`, "=?iso-8859-1?q?Ren=E9?= <rene@example.org>"))

	cl, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	if err := cl.Login("alice", testcluster.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Select("Addresses", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key, value string
		want       []uint32
	}{
		{"From", "Jörg Müller", []uint32{1}},
		{"From", "=?utf-8?q?J=C3=B6rg", nil}, // Dovecot matches decoded text only
		{"From", "Alice <alice@example", []uint32{2}},
		{"From", "Example, Alice", []uint32{2}},
		{"From", "jm@example.org", []uint32{1}},
		{"To", "René", []uint32{2}},
		{"To", "René <rene@", []uint32{2}},
		{"To", "nobody", nil},
	} {
		data, err := cl.Search(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: tc.key, Value: tc.value}}}, nil).Wait()
		if err != nil {
			t.Fatalf("SEARCH %s %q: %v", tc.key, tc.value, err)
		}
		if got := data.AllSeqNums(); !slices.Equal(got, tc.want) {
			t.Errorf("SEARCH %s %q: %v, want %v", tc.key, tc.value, got, tc.want)
		}
	}
}

// testEnvelopeGroups: ENVELOPE keeps RFC 5322 groups with the start and
// end markers of RFC 3501 section 7.4.2.
func testEnvelopeGroups(t *testing.T, c *testcluster.Cluster, addr string) {
	c.Create(0, "user/alice/Groups")
	a := loginWire(t, addr, "alice")
	body := strings.Join([]string{
		"From: Alice <alice@example.org>",
		"To: undisclosed-recipients:;",
		"Cc: Friends: Bob <bob@example.org>, carol@example.org;, dave@example.org",
		"Subject: groups",
		"",
		"hello",
		"",
	}, "\r\n")
	a.appendMessage("Groups", "", body)
	a.ok("SELECT Groups")
	// go-imap writes a space between the addresses of a list, which RFC
	// 3501's grammar lacks ("(" 1*address ")") and clients accept.
	l := strings.ReplaceAll(find(a.ok("FETCH 1 ENVELOPE"), "* 1 FETCH"), ") (", ")(")
	for _, want := range []string{
		`((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))`,
		`((NIL NIL "Friends" NIL)("Bob" NIL "bob" "example.org")(NIL NIL "carol" "example.org")(NIL NIL NIL NIL)(NIL NIL "dave" "example.org"))`,
	} {
		if !strings.Contains(l, want) {
			t.Errorf("ENVELOPE lacks %s: %s", want, l)
		}
	}
}

// testRecent: a message is \Recent in exactly one session, the first to
// SELECT the mailbox after it arrived; EXAMINE and STATUS only look
// (RFC 3501 sections 2.3.2, 6.3.1, 6.3.2, 6.3.10, 6.4.4, 7.3.2).
func testRecent(t *testing.T, c *testcluster.Cluster, addr string) {
	c.Create(0, "user/alice/Recent")
	a, b := loginWire(t, addr, "alice"), loginWire(t, addr, "alice")
	a.appendMessage("Recent", "", message("one", "1"))
	a.appendMessage("Recent", `\Seen`, message("two", "2"))

	want(t, "STATUS before any SELECT", b.ok("STATUS Recent (MESSAGES RECENT)"), `* STATUS "Recent" (MESSAGES 2 RECENT 2)`)
	lines := b.ok("EXAMINE Recent")
	want(t, "EXAMINE", lines, "* 2 RECENT")
	want(t, "FETCH in EXAMINE", b.ok("FETCH 1 FLAGS"), `* 1 FETCH (UID 2 FLAGS (\Recent))`)
	b.ok("UNSELECT")

	want(t, "first SELECT", a.ok("SELECT Recent"), "* 2 RECENT")
	want(t, "SEARCH RECENT", a.ok("SEARCH RECENT"), "* SEARCH 1 2")
	want(t, "SEARCH NEW", a.ok("SEARCH NEW"), "* SEARCH 1")
	want(t, "SEARCH OLD", a.ok("SEARCH OLD"), "* SEARCH")
	want(t, "FETCH FLAGS", a.ok("FETCH 2 FLAGS"), `* 2 FETCH (UID 4 FLAGS (\Seen \Recent))`)

	want(t, "second SELECT", b.ok("SELECT Recent"), "* 0 RECENT")
	want(t, "SEARCH OLD in the second session", b.ok("SEARCH OLD"), "* SEARCH 1 2")
	want(t, "SEARCH RECENT in the second session", b.ok("SEARCH RECENT"), "* SEARCH")
	want(t, "FETCH FLAGS in the second session", b.ok("FETCH 1 FLAGS"), "* 1 FETCH (UID 2 FLAGS ())")
	b.ok("UNSELECT")
	want(t, "STATUS after the SELECTs", b.ok("STATUS Recent (RECENT)"), `* STATUS "Recent" (RECENT 0)`)

	// A message that arrives while a session has the mailbox selected is
	// recent there: RECENT follows its EXISTS.
	b.appendMessage("Recent", "", message("three", "3"))
	var seen []string
	testcluster.WaitFor(t, "EXISTS 3 in the selected session", func() bool {
		lines := a.ok("NOOP")
		seen = append(seen, lines...)
		return find(lines, "* 3 EXISTS") != ""
	})
	want(t, "RECENT after EXISTS", seen, "* 3 RECENT")
	if i, j := index(seen, "* 3 EXISTS"), index(seen, "* 3 RECENT"); i > j {
		t.Fatalf("RECENT before EXISTS: %q", seen)
	}
	want(t, "SEARCH RECENT after delivery", a.ok("SEARCH RECENT"), "* SEARCH 1 2 3")
	want(t, "STATUS after delivery to a selected mailbox", b.ok("STATUS Recent (RECENT)"), `* STATUS "Recent" (RECENT 0)`)
}

// testNewKeywords: a keyword the mailbox never had reaches every session
// in a FLAGS response before any FETCH FLAGS names it (RFC 3501 sections
// 2.3.2, 7.2.6), whether a STORE or an APPEND brought it.
func testNewKeywords(t *testing.T, c *testcluster.Cluster, addr string) {
	c.Create(0, "user/alice/Keywords")
	a, b := loginWire(t, addr, "alice"), loginWire(t, addr, "alice")
	a.appendMessage("Keywords", "$Old", message("one", "1"))
	a.appendMessage("Keywords", "", message("two", "2"))
	var aFlags, bFlags flagOrder
	aFlags.check(t, "SELECT in a", a.ok("SELECT Keywords"))
	bFlags.check(t, "SELECT in b", b.ok("SELECT Keywords"))
	if !aFlags.known["$old"] {
		t.Fatalf("SELECT's FLAGS lacks the keyword a message has: %v", aFlags.known)
	}

	lines := a.ok("STORE 2 +FLAGS ($Label1)")
	aFlags.check(t, "STORE of a new keyword", lines)
	if find(lines, "* 2 FETCH") == "" || !aFlags.known["$label1"] {
		t.Fatalf("STORE of a new keyword: no FLAGS and FETCH: %q", lines)
	}
	// b learns of it in the FETCH it asks for (which cannot name it yet)
	// or in the updates after, always FLAGS first.
	bFlags.check(t, "FETCH in b after a's STORE", b.ok("FETCH 1:* FLAGS"))
	bFlags.check(t, "NOOP in b", b.ok("NOOP"))
	if !bFlags.known["$label1"] {
		t.Fatalf("b was never told of $Label1")
	}

	// An APPEND from a third session with a new keyword.
	third := loginWire(t, addr, "alice")
	third.appendMessage("Keywords", "$Label2", message("three", "3"))
	testcluster.WaitFor(t, "the new message in a", func() bool {
		lines := a.ok("NOOP")
		aFlags.check(t, "NOOP in a after an APPEND", lines)
		return find(lines, "* 3 EXISTS") != ""
	})
	if !aFlags.known["$label2"] {
		t.Fatalf("a saw the new message without a FLAGS naming $Label2")
	}
	lines = a.ok("FETCH 3 FLAGS")
	aFlags.check(t, "FETCH of the appended message", lines)
	if l := find(lines, "* 3 FETCH"); !strings.Contains(l, "$Label2") {
		t.Fatalf("FETCH of the appended message: %q", lines)
	}
}

// flagOrder follows the FLAGS responses of one session and fails a test
// when a FETCH names a keyword before a FLAGS response did.
type flagOrder struct {
	known map[string]bool
}

var (
	flagsLine  = regexp.MustCompile(`^\* FLAGS \(([^)]*)\)`)
	fetchFlags = regexp.MustCompile(`^\* \d+ FETCH .*FLAGS \(([^)]*)\)`)
)

func (o *flagOrder) check(t testing.TB, what string, lines []string) {
	t.Helper()
	if o.known == nil {
		o.known = make(map[string]bool)
	}
	for _, l := range lines {
		if m := flagsLine.FindStringSubmatch(l); m != nil {
			for _, f := range strings.Fields(m[1]) {
				o.known[strings.ToLower(f)] = true
			}
			continue
		}
		if strings.Contains(l, "FLAGS (NIL)") || strings.Contains(l, "FLAGS NIL") {
			t.Fatalf("%s: %q", what, l)
		}
		m := fetchFlags.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		for _, f := range strings.Fields(m[1]) {
			if !strings.HasPrefix(f, `\`) && !o.known[strings.ToLower(f)] {
				t.Fatalf("%s: %q names %s before any FLAGS did (lines %q)", what, l, f, lines)
			}
		}
	}
}

func index(lines []string, line string) int {
	for i, l := range lines {
		if strings.TrimSpace(l) == line {
			return i
		}
	}
	return -1
}
