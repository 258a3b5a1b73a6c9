package imapd_test

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// TestDovecotDifferential runs one raw IMAP script against Dovecot (from
// Debian's dovecot-imapd, on loopback, with its own config, a
// passwd-file user and a Maildir in a temporary directory) and against a
// Rookery frontend, and compares what a client may rely on: RECENT
// counts, SEARCH RECENT/NEW/OLD and FROM results, the keywords FLAGS
// announces (and that it comes before a FETCH naming them), and the
// ENVELOPE group markers.
func TestDovecotDifferential(t *testing.T) {
	dovecotAddr := testcluster.StartDovecot(t)
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	want := runDiffScript(t, "dovecot", dovecotAddr)
	got := runDiffScript(t, "rookery", c.Frontends[0].IMAPAddr)
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("%s: %q", k, want[k])
		if got[k] != want[k] {
			t.Errorf("%s: rookery %q, dovecot %q", k, got[k], want[k])
		}
	}
}

// runDiffScript runs the script against addr and returns what it saw.
func runDiffScript(t *testing.T, server, addr string) map[string]string {
	out := make(map[string]string)
	a := loginWire(t, addr, "alice")
	a.ok("CREATE Diff")
	a.appendMessage("Diff", "", strings.Join([]string{
		"From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jm@example.org>",
		"To: undisclosed-recipients:;",
		"Cc: Friends: Bob <bob@example.org>, carol@example.org;, dave@example.org",
		"Subject: one",
		"", "hello", ""}, "\r\n"))
	a.appendMessage("Diff", `$Old \Seen`, message("two", "2"))

	b := loginWire(t, addr, "alice")
	out["EXAMINE RECENT"] = recentOf(b.ok("EXAMINE Diff"))
	b.ok("UNSELECT")

	var order flagOrder
	lines := a.ok("SELECT Diff")
	order.check(t, server+" SELECT", lines)
	out["SELECT RECENT"] = recentOf(lines)
	out["SELECT keywords"] = keywords(order)
	for _, key := range []string{"RECENT", "NEW", "OLD", `FROM "Jörg"`, `FROM "jm@example"`, `FROM "=?utf-8?q?J=C3=B6rg"`, `FROM "Alice"`} {
		cmd := "SEARCH " + key
		if strings.ContainsAny(key, "ö") {
			cmd = fmt.Sprintf("SEARCH CHARSET UTF-8 %s", key)
		}
		out[cmd] = find(a.ok(cmd), "* SEARCH")
	}
	lines = a.ok("STORE 1 +FLAGS ($New)")
	order.check(t, server+" STORE of a new keyword", lines)
	out["keywords after STORE"] = keywords(order)

	env := strings.ReplaceAll(find(a.ok("FETCH 1 ENVELOPE"), "* 1 FETCH"), ") (", ")(")
	out["ENVELOPE groups"] = strings.Join(groupMarkers.FindAllString(env, -1), " ")

	lines = b.ok("SELECT Diff")
	out["second SELECT RECENT"] = recentOf(lines)
	out["second SEARCH OLD"] = find(b.ok("SEARCH OLD"), "* SEARCH")
	b.ok("UNSELECT")

	diffBinary(t, a, out)
	diffMoveSame(t, a, out)
	diffFetchExpunged(t, a, b, out)
	diffClientErrors(a, out)
	diffHierarchy(a, out)
	_, tagged := a.do("RENAME INBOX Rinbox")
	out["RENAME INBOX"] = strings.Join(strings.Fields(tagged)[:2], " ")
	return out
}

// diffHierarchy: CREATE with a trailing separator, parents that are no
// mailbox in LIST, LIST-EXTENDED, LSUB "%" and RECURSIVEMATCH. Names are
// compared unquoted and sorted; \HasChildren, which RFC 5258 lets a server
// send unasked, only where CHILDREN was asked for. A parent DELETEd with
// children is left out: Dovecot's Maildir++ keeps listing it as a mailbox
// that SELECT then does not find, Rookery lists it \Noselect.
func diffHierarchy(a *wire, out map[string]string) {
	a.ok("CREATE Hfoo/")
	a.ok("CREATE Ha/b/c")
	a.ok("SUBSCRIBE Ha/b/c")
	for _, cmd := range []string{
		`LIST "" Hfoo*`,
		`LIST "" Ha*`,
		`LIST "" H%`,
		`LIST "" Ha* RETURN (CHILDREN)`,
		`LSUB "" H%`,
		`LSUB "" Ha/%`,
		`LSUB "" Ha*`,
		`LIST (SUBSCRIBED RECURSIVEMATCH) "" H%`,
		`LIST (SUBSCRIBED) "" Ha* RETURN (CHILDREN)`,
	} {
		lines := a.ok(cmd)
		for i, l := range lines {
			l = strings.ReplaceAll(l, `"`, "")
			if !strings.Contains(cmd, "CHILDREN") {
				l = hasChildren.ReplaceAllString(l, "")
			}
			// Attributes in any order.
			if loc := attrList.FindStringIndex(l); loc != nil {
				attrs := strings.Fields(strings.Trim(l[loc[0]:loc[1]], "()"))
				sort.Strings(attrs)
				l = l[:loc[0]] + "(" + strings.Join(attrs, " ") + ")" + l[loc[1]:]
			}
			lines[i] = strings.Join(strings.Fields(strings.NewReplacer("(", " ( ", ")", " ) ").Replace(l)), " ")
		}
		sort.Strings(lines)
		out[cmd] = strings.Join(lines, " | ")
	}
}

var (
	hasChildren = regexp.MustCompile(`\\Has(No)?Children`)
	attrList    = regexp.MustCompile(`\([^)]*\)`)
)

// diffClientErrors: what both servers answer BAD (the first word of the
// tagged response is compared). Dovecot implements WITHIN and SAVEDATE,
// Rookery does not offer them and answers their keys BAD (not compared).
func diffClientErrors(a *wire, out map[string]string) {
	a.ok("SELECT INBOX")
	for _, cmd := range []string{
		`APPEND INBOX "bogus" {3}`,
		`APPEND INBOX (\Seen) "32-Foo-2020 99:00:00 +0000" {3}`,
		"SEARCH FOOBAR",
		"SEARCH (FOO)",
		"UID SEARCH NOT",
		"SEARCH LARGER x",
		"CREATE Gr\xc3\xbcn",
		"SELECT Gr\xc3\xbcn",
		"LIST \"\" Gr\xc3\xbcn",
		"SEARCH CHARSET UTF-8 SUBJECT \"Gr\xc3\xbcn\"",
	} {
		_, tagged := a.do(cmd)
		out[cmd] = strings.Fields(tagged)[0]
	}
	a.ok("UNSELECT")
}

// diffFetchExpunged: a FETCH of a message another session expunged, before
// the EXPUNGE reached this one. Both servers answer OK with the message's
// FLAGS and send the EXPUNGE at the next command that may; Dovecot
// answers NIL for a body section and adds [EXPUNGEISSUED], Rookery serves
// the body it kept (not compared).
func diffFetchExpunged(t *testing.T, a, b *wire, out map[string]string) {
	a.ok("CREATE DiffGone")
	for i := range 3 {
		a.appendMessage("DiffGone", "", message(fmt.Sprintf("gone %d", i), "x"))
	}
	a.ok("SELECT DiffGone")
	b.ok("SELECT DiffGone")
	b.ok(`STORE 2 +FLAGS.SILENT (\Deleted)`)
	b.ok("EXPUNGE")
	lines, tagged := a.do("FETCH 2 (FLAGS)")
	out["FETCH FLAGS of an expunged message"] = strings.Fields(tagged)[0] + " " + fmt.Sprint(strings.Contains(find(lines, "* 2 FETCH"), `\Deleted`))
	lines, tagged = a.do("FETCH 2 (BODY.PEEK[TEXT])")
	out["FETCH BODY of an expunged message"] = strings.Fields(tagged)[0] + " " + fmt.Sprint(find(lines, "* 2 FETCH") != "")
	t.Logf("FETCH BODY of an expunged message: %q %s", lines, tagged)
	out["UID FETCH after it"] = strings.Join(responseKinds(a.ok("UID FETCH 1:* (FLAGS)")), " ")
	a.ok("UNSELECT")
	b.ok("UNSELECT")
}

// diffMoveSame: MOVE to the selected mailbox is a move (new UIDs), whose
// UIDs differ between the servers: compared are the kinds of response
// and the flags that remain.
func diffMoveSame(t *testing.T, a *wire, out map[string]string) {
	a.ok("CREATE DiffSame")
	a.appendMessage("DiffSame", "", message("s1", "x"))
	a.appendMessage("DiffSame", `\Flagged`, message("s2", "x"))
	a.ok("SELECT DiffSame")
	lines, tagged := a.do("MOVE 2 DiffSame")
	out["MOVE to self"] = strings.Join(responseKinds(append(lines, tagged)), " ")
	out["MOVE to self, then FETCH 2 FLAGS"] = fetchItems(find(a.ok("FETCH 2 FLAGS"), "* 2 FETCH"))
	a.ok("UNSELECT")
}

var responseKind = regexp.MustCompile(`^(\* \d+ \w+|\* OK \[\w+|OK|NO|BAD)`)

// responseKinds is what each response is: "* 2 EXPUNGE", "* OK [COPYUID",
// "OK". RECENT is left out: Rookery sends it whenever the count changes
// (RFC 3501 section 7.3.2), Dovecot not after a MOVE.
func responseKinds(lines []string) []string {
	var out []string
	for _, l := range lines {
		if k := responseKind.FindString(l); !strings.HasSuffix(k, " RECENT") {
			out = append(out, k)
		}
	}
	return out
}

// diffBinary: partial BINARY, BINARY.PEEK and BINARY.SIZE (RFC 3516).
func diffBinary(t *testing.T, a *wire, out map[string]string) {
	a.ok("CREATE DiffBinary")
	a.appendMessage("DiffBinary", "", binaryMessage)
	a.ok("SELECT DiffBinary")
	for _, cmd := range []string{
		"FETCH 1 BINARY.PEEK[1]<2.5>",
		"FETCH 1 BINARY.PEEK[1]<100.5>",
		"FETCH 1 BINARY.PEEK[1]",
		"FETCH 1 BINARY.SIZE[1]",
		"FETCH 1 FLAGS",
		"FETCH 1 BINARY[1]<0.5>",
	} {
		out[cmd] = fetchItems(find(a.ok(cmd), "* 1 FETCH"))
	}
	a.ok("UNSELECT")
}

var fetchUID = regexp.MustCompile(`^\* (\d+) FETCH \((UID \d+ )?`)

// fetchItems is a FETCH response without the UID item that Rookery adds
// unasked (RFC 3501 section 7.4.2 allows it).
func fetchItems(l string) string {
	return fetchUID.ReplaceAllString(l, "* $1 FETCH (")
}

var groupMarkers = regexp.MustCompile(`\(NIL NIL "[^"]*" NIL\)|\(NIL NIL NIL NIL\)`)

func recentOf(lines []string) string {
	for _, l := range lines {
		if strings.HasSuffix(l, " RECENT") {
			return l
		}
	}
	return ""
}

func keywords(o flagOrder) string {
	var out []string
	for k := range o.known {
		if !strings.HasPrefix(k, `\`) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}
