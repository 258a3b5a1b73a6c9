package imapfront_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

var (
	reMailboxID = regexp.MustCompile(`MAILBOXID \(([A-Za-z0-9_-]+)\)`)
	reEmailID   = regexp.MustCompile(`EMAILID \(([A-Za-z0-9_-]+)\)`)
)

// idIn is the object id re finds in lines, failing without one.
func idIn(t *testing.T, re *regexp.Regexp, lines ...string) string {
	t.Helper()
	for _, l := range lines {
		if m := re.FindStringSubmatch(l); m != nil {
			return m[1]
		}
	}
	t.Fatalf("no %s in %q", re, lines)
	return ""
}

// OBJECTID (RFC 8474) through the frontend: a MAILBOXID that RENAME keeps
// and a new mailbox of the same name does not; an EMAILID that a COPY to
// a mailbox on another backend keeps; THREADID NIL; the SEARCH keys.
func TestObjectID(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1})
	c.AddUser("alice", 0)
	c.Create(1, "user/alice/Elsewhere")
	s := loginSort(t, c.Frontends[0].IMAPAddr)
	if caps := s.answer("CAPABILITY", "* CAPABILITY"); !strings.Contains(caps, " OBJECTID") {
		t.Fatalf("OBJECTID not offered: %q", caps)
	}
	_, tagged := s.do("CREATE Projects")
	id := idIn(t, reMailboxID, tagged)
	if got := idIn(t, reMailboxID, s.ok("SELECT Projects")...); got != id {
		t.Fatalf("SELECT's MAILBOXID %s, CREATE's %s", got, id)
	}
	s.ok("UNSELECT")
	s.ok("RENAME Projects Work")
	if got := idIn(t, reMailboxID, s.answer("STATUS Work (MAILBOXID MESSAGES)", "* STATUS")); got != id {
		t.Fatalf("MAILBOXID after RENAME: %s, was %s", got, id)
	}
	if l := s.answer("STATUS Work (MAILBOXID)", "* STATUS"); !strings.HasSuffix(l, "(MAILBOXID ("+id+"))") {
		t.Fatalf("STATUS MAILBOXID alone: %q", l)
	}
	s.ok("DELETE Work")
	_, tagged = s.do("CREATE Work")
	if again := idIn(t, reMailboxID, tagged); again == id {
		t.Fatalf("a new mailbox of the same name has the old one's MAILBOXID %s", id)
	}
	var listed bool
	for _, l := range s.ok(`LIST "" "Work" RETURN (STATUS (MAILBOXID MESSAGES))`) {
		listed = listed || strings.HasPrefix(l, "* STATUS") && reMailboxID.MatchString(l) && strings.Contains(l, "MESSAGES 0")
	}
	if !listed {
		t.Fatal("LIST-STATUS gave no MAILBOXID")
	}

	s.appendAt("INBOX", "01-Jan-2024 10:00:00 +0000", "Subject: one\r\n\r\nbody\r\n")
	s.appendAt("INBOX", "01-Jan-2024 10:00:00 +0000", "Subject: two\r\n\r\nbody\r\n")
	s.ok("SELECT INBOX")
	lines := s.ok("FETCH 1:2 (EMAILID THREADID FLAGS)")
	if len(lines) != 2 || !strings.Contains(lines[0], "THREADID NIL") || !strings.Contains(lines[0], "FLAGS (") {
		t.Fatalf("FETCH EMAILID THREADID: %q", lines)
	}
	first, second := idIn(t, reEmailID, lines[0]), idIn(t, reEmailID, lines[1])
	if first == second {
		t.Fatalf("two messages of different content share EMAILID %s", first)
	}
	if got := s.answer("SEARCH EMAILID "+second, "* SEARCH"); got != "* SEARCH 2" {
		t.Fatalf("SEARCH EMAILID: %q", got)
	}
	if got := s.answer("SEARCH OR THREADID T1 EMAILID "+first, "* SEARCH"); got != "* SEARCH 1" {
		t.Fatalf("SEARCH THREADID: %q", got)
	}
	s.ok("COPY 2 Elsewhere")
	s.ok("SELECT Elsewhere")
	if got := idIn(t, reEmailID, s.answer("FETCH 1 (EMAILID)", "* 1 FETCH")); got != second {
		t.Fatalf("EMAILID after a COPY to another backend: %s, was %s", got, second)
	}
	if _, tagged := s.do("SEARCH EMAILID bad!id"); !strings.HasPrefix(tagged, "BAD") {
		t.Fatalf("SEARCH EMAILID of a bad id: %q", tagged)
	}
}

// PREVIEW (RFC 8970) through the frontend: the start of a message's text,
// quoted, or in a literal when it is 8-bit; LAZY answers it all the same.
func TestPreview(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1})
	c.AddUser("alice", 0)
	c.Create(1, "user/alice/Elsewhere")
	s := loginSort(t, c.Frontends[0].IMAPAddr)
	if caps := s.answer("CAPABILITY", "* CAPABILITY"); !strings.Contains(caps, " PREVIEW") {
		t.Fatalf("PREVIEW not offered: %q", caps)
	}
	s.appendAt("Elsewhere", "01-Jan-2024 10:00:00 +0000", "Subject: one\r\n\r\nSee you \"soon\",\r\n  Bob\r\n")
	s.appendAt("Elsewhere", "01-Jan-2024 10:00:00 +0000", "Subject: two\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe\r\n")
	s.ok("SELECT Elsewhere")
	if got := s.answer("FETCH 1 (PREVIEW)", "* 1 FETCH"); got != `* 1 FETCH (UID 2 PREVIEW "See you \"soon\", Bob")` {
		t.Fatalf("FETCH PREVIEW: %q", got)
	}
	untagged, tagged := s.do("FETCH 2 (FLAGS PREVIEW (LAZY))")
	if !strings.HasPrefix(tagged, "OK") || len(untagged) != 2 || !strings.HasSuffix(untagged[0], "PREVIEW {7}") || !strings.HasPrefix(untagged[1], "Grüße ") {
		t.Fatalf("FETCH PREVIEW (LAZY) of an 8-bit text: %q %q", untagged, tagged)
	}
}

// SELECT names the first unseen message (RFC 3501 section 6.3.1), and
// none when all are seen.
func TestSelectUnseen(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	s := loginSort(t, c.Frontends[0].IMAPAddr)
	for range 3 {
		s.appendAt("INBOX", "01-Jan-2024 10:00:00 +0000", "Subject: m\r\n\r\nbody\r\n")
	}
	s.ok("SELECT INBOX")
	s.ok(`STORE 1 +FLAGS (\Seen)`)
	unseen := func() string {
		for _, l := range s.ok("SELECT INBOX") {
			if strings.HasPrefix(l, "* OK [UNSEEN ") {
				return l
			}
		}
		return ""
	}
	if got := unseen(); !strings.HasPrefix(got, "* OK [UNSEEN 2]") {
		t.Fatalf("SELECT with message 2 the first unseen: %q", got)
	}
	s.ok(`STORE 2:3 +FLAGS (\Seen)`)
	if got := unseen(); got != "" {
		t.Fatalf("SELECT with every message seen: %q", got)
	}
}

// SAVEDATE (RFC 8514) through the frontend: the day a message was saved
// in the mailbox, not its internal date; a COPY to another backend saves
// it anew.
func TestSaveDate(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1})
	c.AddUser("alice", 0)
	c.Create(1, "user/alice/Elsewhere")
	s := loginSort(t, c.Frontends[0].IMAPAddr)
	if caps := s.answer("CAPABILITY", "* CAPABILITY"); !strings.Contains(caps, " SAVEDATE") {
		t.Fatalf("SAVEDATE not offered: %q", caps)
	}
	before := time.Now().UTC().Add(-time.Second)
	s.appendAt("INBOX", "01-Jan-2020 10:00:00 +0000", "Subject: old\r\n\r\nbody\r\n")
	s.ok("SELECT INBOX")
	l := s.answer("FETCH 1 (SAVEDATE INTERNALDATE)", "* 1 FETCH")
	m := regexp.MustCompile(`SAVEDATE "([^"]+)"`).FindStringSubmatch(l)
	if m == nil || !strings.Contains(l, `1-Jan-2020 10:00:00`) {
		t.Fatalf("FETCH SAVEDATE: %q", l)
	}
	saved, err := time.Parse("02-Jan-2006 15:04:05 -0700", m[1])
	if err != nil || saved.Before(before.Truncate(time.Second)) || saved.After(time.Now().Add(time.Second)) {
		t.Fatalf("SAVEDATE %q is not when the message was saved (%v)", m[1], err)
	}
	day := saved.UTC().Format("2-Jan-2006")
	for key, want := range map[string]string{
		"SAVEDON " + day:                "* SEARCH 1",
		"SAVEDSINCE " + day:             "* SEARCH 1",
		"SAVEDBEFORE " + day:            "* SEARCH",
		"SAVEDON 1-Jan-2020":            "* SEARCH",
		"SAVEDATESUPPORTED":             "* SEARCH 1",
		"NOT SAVEDSINCE " + day:         "* SEARCH",
		"OR SAVEDBEFORE 1-Jan-2020 ALL": "* SEARCH 1",
	} {
		if got := s.answer("SEARCH "+key, "* SEARCH"); got != want {
			t.Errorf("SEARCH %s: %q, want %q", key, got, want)
		}
	}
	s.ok("COPY 1 Elsewhere")
	s.ok("SELECT Elsewhere")
	if l := s.answer("FETCH 1 (SAVEDATE)", "* 1 FETCH"); !strings.Contains(l, `SAVEDATE "`) {
		t.Fatalf("SAVEDATE after a COPY to another backend: %q", l)
	}
}
