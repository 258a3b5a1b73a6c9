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

// TestCondstoreDovecotDifferential runs one CONDSTORE script (RFC 7162
// section 3.1) against Dovecot and a Rookery frontend and compares what a
// client may rely on: which messages each response names, with which
// flags, whether it carries MODSEQ, the tagged status and MODIFIED's set.
// Modseq values are each server's own: the script reads them from its
// answers ($H0, $M1...) and the comparison writes them as N.
func TestCondstoreDovecotDifferential(t *testing.T) {
	dovecotAddr := testcluster.StartDovecot(t)
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	want := runCondstoreScript(t, dovecotAddr, condstoreScript)
	got := runCondstoreScript(t, c.Frontends[0].IMAPAddr, condstoreScript)
	for i, cmd := range condstoreScript {
		t.Logf("%s => %s", cmd, want[i])
		if ours, ok := condstoreDiffers[cmd]; ok {
			if want[i] == got[i] || got[i] != ours {
				t.Errorf("%s: a known difference from Dovecot changed:\n rookery %q, want %q\n dovecot %q", cmd, got[i], ours, want[i])
			}
			continue
		}
		if got[i] != want[i] {
			t.Errorf("%s:\n rookery %q\n dovecot %q", cmd, got[i], want[i])
		}
	}
}

var condstoreScript = []string{
	"SELECT INBOX (CONDSTORE)",
	"FETCH 1:* (FLAGS MODSEQ)",
	`STORE 1 +FLAGS (\Seen)`,
	"FETCH 1:* (FLAGS) (CHANGEDSINCE $H0)",
	"UID FETCH 1:* (FLAGS) (CHANGEDSINCE $H0)",
	`STORE 2 (UNCHANGEDSINCE $M2-1) +FLAGS (\Flagged)`,
	`STORE 2 (UNCHANGEDSINCE $M2) +FLAGS.SILENT (\Flagged)`,
	`UID STORE 1:* (UNCHANGEDSINCE $H0) +FLAGS ($Junk)`,
	`STORE 3 (UNCHANGEDSINCE 0) +FLAGS (\Answered)`,
	`STORE 4 -FLAGS (\Draft)`,
	`STORE 4 (UNCHANGEDSINCE $M4) FLAGS.SILENT (\Draft)`,
	"SEARCH MODSEQ $H0",
	"SEARCH MODSEQ 1",
	"SEARCH MODSEQ 99999999",
	`SEARCH MODSEQ "/flags/\\Seen" all $H0 SEEN`,
	"UID SEARCH MODSEQ $H0",
	"UID SEARCH RETURN (COUNT) MODSEQ 1",
	"SEARCH RETURN (MIN) MODSEQ 1",
	"UID SEARCH RETURN (ALL MAX) MODSEQ $H0",
	"SEARCH RETURN (COUNT) MODSEQ 99999999",
	"SORT (REVERSE ARRIVAL) UTF-8 MODSEQ $H0",
	"UID SORT (SUBJECT) UTF-8 MODSEQ 1 NOT SEEN",
	"SORT (ARRIVAL) UTF-8 MODSEQ 99999999",
	"THREAD ORDEREDSUBJECT UTF-8 MODSEQ $H0",
	"FETCH 2 (MODSEQ)",
	"FETCH 1:* (UID) (CHANGEDSINCE $H0)",
	"STATUS INBOX (HIGHESTMODSEQ MESSAGES)",
	"FETCH 1 (FLAGS) (CHANGEDSINCE x)",
	// RFC 8514: the messages were saved today, with internal dates of
	// 2024.
	"SEARCH SAVEDSINCE 1-Jan-2025",
	"SEARCH SAVEDBEFORE 1-Jan-2025",
	"SEARCH SAVEDON 1-Jan-2024",
	"SEARCH SAVEDATESUPPORTED",
	"SEARCH NOT SAVEDSINCE 1-Jan-2025",
	"FETCH 1 (SAVEDATE)",
	"SEARCH SAVEDON 32-Jan-2025",
}

// condstoreDiffers is Rookery's answer where it differs from Dovecot's
// on purpose.
var condstoreDiffers = map[string]string{
	// A date with a day that no month has is BAD, as for SINCE and the
	// other date keys (imapfront/DESIGN.md, "Checked before relaying");
	// Dovecot takes it as matching nothing.
	"SEARCH SAVEDON 32-Jan-2025": "BAD",
	// RFC 3501 section 6.4.6: STORE returns the new flags of each message
	// it names "as if a FETCH of those flags was done", changed or not;
	// Dovecot leaves out a message whose flags did not change.
	`STORE 4 -FLAGS (\Draft)`: "FETCH 4 FLAGS($Junk) MODSEQ; OK",
	// A STORE .SILENT of a CONDSTORE session tells each message's FLAGS
	// with its MODSEQ: the flags after it may hold another session's
	// change of the same moment, which MODSEQ alone (Dovecot's answer)
	// would hide from the client for good.
	`STORE 2 (UNCHANGEDSINCE $M2) +FLAGS.SILENT (\Flagged)`: "FETCH 2 FLAGS(\\Flagged) MODSEQ; OK",
	`STORE 2 +FLAGS.SILENT (\Deleted)`:                      "FETCH 2 FLAGS(\\Deleted) MODSEQ; OK",
}

var (
	reModSeqItem  = regexp.MustCompile(`MODSEQ \(\d+\)`)
	reModSeqPlain = regexp.MustCompile(`(HIGHESTMODSEQ|MODSEQ) \d+`)
	reFetchLine   = regexp.MustCompile(`^\* (\d+) FETCH \((.*)\)$`)
	reFlagsItem   = regexp.MustCompile(`FLAGS \(([^)]*)\)`)
	reModified    = regexp.MustCompile(`\[MODIFIED ([0-9:,]+)\]`)
	reSaveDate    = regexp.MustCompile(`SAVEDATE ("[^"]*"|NIL)`)
	reVarModSeq   = regexp.MustCompile(`\$(H0|M\d|U\d|UV)(-1)?`)
)

// TestQresyncDovecotDifferential is QRESYNC's script (RFC 7162 section
// 3.2), compared as CONDSTORE's is, VANISHED's UIDs as message numbers.
func TestQresyncDovecotDifferential(t *testing.T) {
	dovecotAddr := testcluster.StartDovecot(t)
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	want := runCondstoreScript(t, dovecotAddr, qresyncScript)
	got := runCondstoreScript(t, c.Frontends[0].IMAPAddr, qresyncScript)
	for i, cmd := range qresyncScript {
		t.Logf("%s => %s", cmd, want[i])
		if ours, ok := condstoreDiffers[cmd]; ok {
			if want[i] == got[i] || got[i] != ours {
				t.Errorf("%s: a known difference from Dovecot changed:\n rookery %q, want %q\n dovecot %q", cmd, got[i], ours, want[i])
			}
			continue
		}
		if got[i] != want[i] {
			t.Errorf("%s:\n rookery %q\n dovecot %q", cmd, got[i], want[i])
		}
	}
}

var qresyncScript = []string{
	"SELECT INBOX (QRESYNC ($UV 1))",
	"ENABLE QRESYNC",
	"SELECT INBOX",
	`STORE 2 +FLAGS.SILENT (\Deleted)`,
	"EXPUNGE",
	`STORE 2 +FLAGS (\Flagged)`,
	"UID FETCH 1:* (FLAGS) (CHANGEDSINCE $H0 VANISHED)",
	"UID FETCH $U4:$U4 (FLAGS) (CHANGEDSINCE $H0 VANISHED)",
	"FETCH 1:* (FLAGS) (CHANGEDSINCE $H0 VANISHED)",
	"SELECT INBOX (QRESYNC ($UV $H0))",
	"SELECT INBOX (QRESYNC ($UV $H0 $U4:$U4))",
	"SELECT INBOX (QRESYNC ($UV $H0 $U1:$U4 ($U1:$U2 1:2)))",
	"SELECT INBOX (QRESYNC ($UVx $H0))",
	`UID STORE $U4 +FLAGS.SILENT (\Deleted)`,
	"UID EXPUNGE $U4",
	"EXAMINE INBOX (QRESYNC ($UV $H0))",
}

func runCondstoreScript(t *testing.T, addr string, script []string) []string {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(conn)
	n := 0
	run := func(cmd string) ([]string, string) {
		n++
		tag := "c" + strconv.Itoa(n)
		fmt.Fprintf(conn, "%s %s\r\n", tag, cmd)
		var lines []string
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: %s: %v", addr, cmd, err)
			}
			l = strings.TrimRight(l, "\r\n")
			if rest, ok := strings.CutPrefix(l, tag+" "); ok {
				return lines, rest
			}
			if strings.HasPrefix(l, "* ") {
				lines = append(lines, l)
			}
		}
	}
	if _, st := run("LOGIN alice " + testcluster.Password); !strings.HasPrefix(st, "OK") {
		t.Fatalf("%s: login: %s", addr, st)
	}
	for i := range 4 {
		msg := fmt.Sprintf("From: a@example.org\r\nSubject: m%d\r\n\r\nbody %d\r\n", i, i)
		// One internal date for all, so that ARRIVAL ties go by number.
		if _, st := run(fmt.Sprintf("APPEND INBOX \"01-Jan-2024 10:00:00 +0000\" {%d+}\r\n%s", len(msg), msg)); !strings.HasPrefix(st, "OK") {
			t.Fatalf("%s: APPEND: %s", addr, st)
		}
	}
	sel, st := run("SELECT INBOX")
	if !strings.HasPrefix(st, "OK") {
		t.Fatalf("%s: SELECT: %s", addr, st)
	}
	lines, _ := run("FETCH 1:* (UID)")
	for _, l := range sel {
		if strings.HasPrefix(l, "* OK [UIDVALIDITY ") {
			lines = append(lines, l)
		}
	}
	seqOf := map[string]string{}
	for _, l := range lines {
		if m := reUIDFetch.FindStringSubmatch(l); m != nil {
			seqOf[m[2]] = m[1]
		}
	}
	vars := map[string]uint64{}
	for uid, seq := range seqOf {
		vars["U"+seq], _ = strconv.ParseUint(uid, 10, 64)
	}
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(l, "* OK [UIDVALIDITY "); ok {
			vars["UV"], _ = strconv.ParseUint(rest[:strings.IndexByte(rest, ']')], 10, 64)
		}
	}
	var out []string
	for _, cmd := range script {
		text := reVarModSeq.ReplaceAllStringFunc(cmd, func(v string) string {
			m := reVarModSeq.FindStringSubmatch(v)
			val := vars[m[1]]
			if m[2] != "" {
				val--
			}
			return strconv.FormatUint(val, 10)
		})
		lines, tagged := run(text)
		for _, l := range lines {
			if rest, ok := strings.CutPrefix(l, "* OK [HIGHESTMODSEQ "); ok && vars["H0"] == 0 {
				vars["H0"], _ = strconv.ParseUint(rest[:strings.IndexByte(rest, ']')], 10, 64)
			}
			if m := reFetchLine.FindStringSubmatch(l); m != nil && cmd == "FETCH 1:* (FLAGS MODSEQ)" {
				if ms := regexp.MustCompile(`MODSEQ \((\d+)\)`).FindStringSubmatch(l); ms != nil {
					vars["M"+m[1]], _ = strconv.ParseUint(ms[1], 10, 64)
				}
			}
		}
		out = append(out, normalizeCondstore(lines, tagged, seqOf, strings.HasPrefix(cmd, "UID ")))
	}
	return out
}

// normalizeCondstore writes a command's answer as what a client may rely
// on: FETCH responses as the message, its flags in order and whether
// MODSEQ came (UIDs, which the servers number alike only by chance, as
// message numbers); other untagged responses with modseqs as N; the
// tagged status with its MODIFIED set.
func normalizeCondstore(lines []string, tagged string, seqOf map[string]string, byUID bool) string {
	var parts []string
	for _, l := range lines {
		if m := reFetchLine.FindStringSubmatch(l); m != nil {
			p := "FETCH " + m[1]
			if f := reFlagsItem.FindStringSubmatch(m[2]); f != nil {
				flags := strings.Fields(f[1])
				slices.Sort(flags)
				p += " FLAGS(" + strings.Join(flags, " ") + ")"
			}
			if reModSeqItem.MatchString(m[2]) {
				p += " MODSEQ"
			}
			if sd := reSaveDate.FindString(m[2]); sd != "" {
				// Today, in each server's zone.
				p += " SAVEDATE " + strconv.FormatBool(strings.Contains(sd, time.Now().UTC().Format("-2006 ")) || strings.Contains(sd, time.Now().Format("-2006 ")))
			}
			parts = append(parts, p)
			continue
		}
		if strings.HasPrefix(l, "* FLAGS") || strings.HasPrefix(l, "* OK [PERMANENTFLAGS") {
			continue // the keywords each server lists
		}
		if strings.HasPrefix(l, "* OK [UIDVALIDITY") || strings.HasPrefix(l, "* OK [UIDNEXT") || strings.HasPrefix(l, "* OK [UNSEEN") ||
			strings.HasPrefix(l, "* OK [MAILBOXID") {
			continue // not CONDSTORE's, and each server's own (Dovecot 2.3 has no OBJECTID)
		}
		if (strings.HasPrefix(l, "* SEARCH") || strings.HasPrefix(l, "* SORT")) && byUID {
			fields := strings.Fields(l)
			for i, f := range fields {
				if s, ok := seqOf[f]; ok && i >= 2 && !strings.HasPrefix(fields[i-1], "(MODSEQ") {
					fields[i] = s
				}
			}
			l = strings.Join(fields, " ")
		}
		if rest, ok := strings.CutPrefix(l, "* VANISHED "); ok {
			parts = append(parts, normalizeVanished(rest, seqOf))
			continue
		}
		if strings.HasPrefix(l, "* ESEARCH") {
			parts = append(parts, normalizeESearch(l, seqOf))
			continue
		}
		if strings.HasPrefix(l, "* OK [") || strings.HasPrefix(l, "* SEARCH") || strings.HasPrefix(l, "* SORT") ||
			strings.HasPrefix(l, "* THREAD") || strings.HasPrefix(l, "* STATUS") {
			l = reModSeqPlain.ReplaceAllString(l, "$1 N")
			if strings.HasPrefix(l, "* OK [") {
				l = l[:strings.IndexByte(l, ']')+1] // the text is each server's
			}
			if strings.HasPrefix(l, "* STATUS") {
				l = strings.ReplaceAll(l, `"INBOX"`, "INBOX")
			}
			parts = append(parts, l)
		}
	}
	st, rest, _ := strings.Cut(tagged, " ")
	p := st
	if m := reModified.FindStringSubmatch(rest); m != nil {
		set := m[1]
		if byUID {
			var seqs []string
			for _, r := range strings.Split(set, ",") {
				lo, hi, isRange := strings.Cut(r, ":")
				seqs = append(seqs, seqOf[lo])
				if isRange {
					seqs[len(seqs)-1] += ":" + seqOf[hi]
				}
			}
			set = strings.Join(seqs, ",")
		}
		p += " MODIFIED " + set
	}
	parts = append(parts, p)
	return strings.Join(parts, "; ")
}

// normalizeESearch writes an ESEARCH response as its items in name order,
// sets of UIDs as the message numbers they name, modseqs as N.
func normalizeESearch(l string, seqOf map[string]string) string {
	fields := strings.Fields(reEsearchNo.ReplaceAllString(l, ""))[2:]
	byUID := len(fields) > 0 && fields[0] == "UID"
	if byUID {
		fields = fields[1:]
	}
	var items []string
	for i := 0; i+1 < len(fields); i += 2 {
		name, val := fields[i], fields[i+1]
		switch {
		case name == "MODSEQ":
			val = "N"
		case byUID && (name == "ALL" || name == "MIN" || name == "MAX"):
			var seqs []int
			for uid, seq := range seqOf {
				u, _ := strconv.Atoi(uid)
				for _, r := range strings.Split(val, ",") {
					lo, hi, isRange := strings.Cut(r, ":")
					a, _ := strconv.Atoi(lo)
					b := a
					if isRange {
						b, _ = strconv.Atoi(hi)
					}
					if u >= a && u <= b {
						n, _ := strconv.Atoi(seq)
						seqs = append(seqs, n)
						break
					}
				}
			}
			slices.Sort(seqs)
			val = strings.Trim(strings.Join(strings.Fields(fmt.Sprint(seqs)), ","), "[]")
		}
		items = append(items, name+" "+val)
	}
	slices.Sort(items)
	return "ESEARCH " + strings.Join(items, " ")
}

// normalizeVanished writes a VANISHED response's UIDs as the message
// numbers they had at the start, in order; UIDs of no message are left
// out (a server may name UIDs that never were).
func normalizeVanished(rest string, seqOf map[string]string) string {
	earlier, set := "", rest
	if after, ok := strings.CutPrefix(rest, "(EARLIER) "); ok {
		earlier, set = "(EARLIER) ", after
	}
	var seqs []int
	for uid, seq := range seqOf {
		u, _ := strconv.Atoi(uid)
		for _, r := range strings.Split(set, ",") {
			lo, hi, isRange := strings.Cut(r, ":")
			a, _ := strconv.Atoi(lo)
			b := a
			if isRange {
				b, _ = strconv.Atoi(hi)
			}
			if u >= a && u <= b {
				n, _ := strconv.Atoi(seq)
				seqs = append(seqs, n)
				break
			}
		}
	}
	slices.Sort(seqs)
	return "VANISHED " + earlier + strings.Trim(strings.Join(strings.Fields(fmt.Sprint(seqs)), ","), "[]")
}
