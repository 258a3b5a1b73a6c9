package imapfront_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// uidValidityOf is the UIDVALIDITY a SELECT's lines give.
func uidValidityOf(t *testing.T, lines []string) string {
	t.Helper()
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(l, "* OK [UIDVALIDITY "); ok {
			return rest[:strings.IndexByte(rest, ']')]
		}
	}
	t.Fatalf("no UIDVALIDITY in %q", lines)
	return ""
}

// linesWith is those of lines that contain each of parts.
func linesWith(lines []string, parts ...string) []string {
	var out []string
	for _, l := range lines {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			out = append(out, l)
		}
	}
	return out
}

// QRESYNC (RFC 7162 section 3.2) through the frontend, on a mailbox whose
// primary is another backend than the INBOX's.
func TestQresyncOnAnotherBackend(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1})
	c.AddUser("alice", 0)
	c.Create(1, "user/alice/Archive")
	addr := c.Frontends[0].IMAPAddr
	s := loginSort(t, addr)
	if caps := s.answer("CAPABILITY", "* CAPABILITY"); !strings.Contains(caps, " QRESYNC") {
		t.Fatalf("QRESYNC not offered: %q", caps)
	}
	for i := range 5 {
		s.appendAt("Archive", "01-Jan-2024 10:00:00 +0000", "Subject: m"+strconv.Itoa(i)+"\r\n\r\nbody\r\n")
	}
	if _, tagged := s.do("SELECT Archive (QRESYNC (1 1))"); !strings.HasPrefix(tagged, "BAD") {
		t.Fatalf("QRESYNC before ENABLE QRESYNC: %q", tagged)
	}
	if got := s.ok("ENABLE QRESYNC"); len(got) < 1 || got[0] != "* ENABLED QRESYNC" {
		t.Fatalf("ENABLE QRESYNC: %q", got)
	}
	sel := s.ok("SELECT Archive (CONDSTORE)")
	uv, h0 := uidValidityOf(t, sel), strconv.FormatUint(highestOf(t, sel), 10)
	uids := s.uids()

	// Another session expunges message 2 and flags message 3: this one
	// hears VANISHED, never EXPUNGE.
	o := loginSort(t, addr)
	o.ok("SELECT Archive")
	o.ok(`STORE 2 +FLAGS.SILENT (\Deleted)`)
	o.ok("EXPUNGE")
	o.ok(`STORE 2 +FLAGS (\Flagged)`) // now message 3 of the five
	noop := s.ok("NOOP")
	if len(linesWith(noop, "EXPUNGE")) != 0 || len(linesWith(noop, "* VANISHED "+uids[1])) != 1 {
		t.Fatalf("NOOP after another session's EXPUNGE: %q", noop)
	}
	if got := linesWith(noop, "UID "+uids[2], `\Flagged`, "MODSEQ"); len(got) != 1 {
		t.Fatalf("NOOP after another session's STORE: %q", noop)
	}

	// A new message, named by UID when it goes.
	o.appendAt("Archive", "01-Jan-2024 10:00:00 +0000", "Subject: late\r\n\r\nbody\r\n")
	if got := s.ok("NOOP"); len(linesWith(got, "* 5 EXISTS")) != 1 {
		t.Fatalf("NOOP after an APPEND: %q", got)
	}
	late := s.uids()[4]
	o.ok(`UID STORE ` + late + ` +FLAGS.SILENT (\Deleted)`)
	o.ok("EXPUNGE")
	if got := s.ok("NOOP"); len(linesWith(got, "* VANISHED "+late)) != 1 {
		t.Fatalf("NOOP after the new message's expunge: %q", got)
	}

	// A client that comes back with its UIDVALIDITY and modseq hears
	// what changed, and only for the UIDs it says it knows.
	r := loginSort(t, addr)
	r.ok("ENABLE QRESYNC")
	got := r.ok("SELECT Archive (QRESYNC (" + uv + " " + h0 + "))")
	if want := "* VANISHED (EARLIER) " + uids[1]; len(linesWith(got, want)) != 1 {
		t.Fatalf("SELECT QRESYNC: %q, want %q", got, want)
	}
	if len(linesWith(got, "* 2 FETCH (UID "+uids[2], `\Flagged`, "MODSEQ")) != 1 || len(linesWith(got, " FETCH ")) != 1 {
		t.Fatalf("SELECT QRESYNC: %q, want one FETCH of UID %s", got, uids[2])
	}
	got = r.ok("SELECT Archive (QRESYNC (" + uv + " " + h0 + " " + uids[3] + ":" + uids[4] + "))")
	if len(linesWith(got, "VANISHED")) != 0 || len(linesWith(got, " FETCH ")) != 0 {
		t.Fatalf("SELECT QRESYNC of UIDs that did not change: %q", got)
	}
	got = r.ok("SELECT Archive (QRESYNC (" + uv + "1 " + h0 + "))")
	if len(linesWith(got, "VANISHED")) != 0 || len(linesWith(got, " FETCH ")) != 0 {
		t.Fatalf("SELECT QRESYNC with another UIDVALIDITY: %q", got)
	}
	got = r.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE " + h0 + " VANISHED)")
	if len(got) != 2 || !strings.HasPrefix(got[0], "* VANISHED (EARLIER) ") || !strings.Contains(got[1], "UID "+uids[2]) {
		t.Fatalf("UID FETCH CHANGEDSINCE VANISHED: %q", got)
	}
	for _, bad := range []string{
		"FETCH 1:* (FLAGS) (CHANGEDSINCE " + h0 + " VANISHED)",
		"UID FETCH 1:* (FLAGS) (VANISHED)",
		"SELECT Archive (QRESYNC (0 1))",
		"SELECT Archive (QRESYNC (" + uv + "))",
		"SELECT Archive (QRESYNC (" + uv + " 1 1:x))",
	} {
		if _, tagged := r.do(bad); !strings.HasPrefix(tagged, "BAD") {
			t.Fatalf("%s: %q, want BAD", bad, tagged)
		}
	}
}

// QRESYNC after a failover: the replica's tombstones and modseqs are the
// primary's, and a session that was selected hears VANISHED.
func TestQresyncAfterFailover(t *testing.T) {
	c, f := replicatedInbox(t)
	s := loginSort(t, f.IMAPAddr)
	for i := range 4 {
		s.appendAt("INBOX", "01-Jan-2024 10:00:00 +0000", "Subject: m"+strconv.Itoa(i)+"\r\n\r\nbody\r\n")
	}
	s.ok("ENABLE QRESYNC")
	sel := s.ok("SELECT INBOX")
	uv, h0 := uidValidityOf(t, sel), strconv.FormatUint(highestOf(t, sel), 10)
	uids := s.uids()
	s.ok(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	if got := s.ok("EXPUNGE"); len(got) != 1 || got[0] != "* VANISHED "+uids[0] {
		t.Fatalf("EXPUNGE: %q", got)
	}
	s.ok(`STORE 3 +FLAGS (\Flagged)`) // UID uids[3]
	c.Backends[0].Stop()
	markDown(t, c, "b1")
	r := loginSort(t, f.IMAPAddr)
	r.ok("ENABLE QRESYNC")
	got := r.ok("SELECT INBOX (QRESYNC (" + uv + " " + h0 + "))")
	if len(linesWith(got, "* VANISHED (EARLIER) "+uids[0])) != 1 || len(linesWith(got, "UID "+uids[3], `\Flagged`, "MODSEQ")) != 1 {
		t.Fatalf("SELECT QRESYNC on the new primary: %q", got)
	}
	// The session that was selected goes on, and hears VANISHED there.
	s.ok(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	if got := s.ok("EXPUNGE"); len(got) != 1 || got[0] != "* VANISHED "+uids[1] {
		t.Fatalf("EXPUNGE after the failover: %q", got)
	}
}
