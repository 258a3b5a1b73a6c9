package imapfront

import (
	"fmt"
	"strings"
	"testing"
)

// TestAppendRefusalOnce: a backend that refuses an APPEND before its
// message (a flag list it cannot parse) answers the client with one tagged
// response, not two, and the session goes on.
func TestAppendRefusalOnce(t *testing.T) {
	cl := startTestCluster(t, 1, 1)
	cl.addUser("alice", 0)
	rc := loggedIn(t, cl.frontends[0], "alice")
	rc.send("f APPEND INBOX (\\Seen\\) {5}\r\n")
	first := rc.until("f ")
	if !strings.HasPrefix(first, "f BAD") && !strings.HasPrefix(first, "f NO") {
		t.Fatalf("APPEND with a broken flag list: %q", first)
	}
	// The client does not send the literal after a tagged refusal; the
	// next line the server sends must answer the next command.
	rc.send("g NOOP\r\n")
	if l := rc.line(); !strings.HasPrefix(l, "g OK") {
		t.Fatalf("after the refusal: %q (a second tagged response for f?)", l)
	}
	if n := rc.collect("s", "STATUS INBOX (MESSAGES)", "OK"); len(n) != 1 || !strings.Contains(n[0], "MESSAGES 0") {
		t.Fatalf("STATUS after the refused APPEND: %q", n)
	}
}

// TestMultiAppendRefusedWhole: an APPEND with two messages (MULTIAPPEND,
// not offered by a frontend without a Config.Appender) is refused with BAD and stores neither; the session goes
// on and a single-message APPEND after it works.
func TestMultiAppendRefusedWhole(t *testing.T) {
	cl := startTestCluster(t, 1, 1)
	cl.addUser("alice", 0)
	rc := loggedIn(t, cl.frontends[0], "alice")
	rc.send("m APPEND INBOX {5+}\r\nhello {5+}\r\nworld\r\n")
	if l := rc.until("m "); !strings.HasPrefix(l, "m BAD") {
		t.Fatalf("MULTIAPPEND: %q", l)
	}
	if n := rc.collect("s", "STATUS INBOX (MESSAGES)", "OK"); len(n) != 1 || !strings.Contains(n[0], "MESSAGES 0") {
		t.Fatalf("STATUS after the refused MULTIAPPEND: %q", n)
	}
	rc.send("a APPEND INBOX {5+}\r\nhello\r\n")
	if l := rc.until("a "); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("APPEND after the refused MULTIAPPEND: %q", l)
	}
	if n := rc.collect("t", "STATUS INBOX (MESSAGES)", "OK"); len(n) != 1 || !strings.Contains(n[0], "MESSAGES 1") {
		t.Fatalf("STATUS after one APPEND: %q", n)
	}
}

// TestInvalidUTF7NameIsNO: a mailbox name that is a valid astring but not
// valid modified UTF-7 is answered NO (the command parsed), and so is a
// name of unusual atom characters that does not exist; LIST with such a
// pattern answers OK.
func TestInvalidUTF7NameIsNO(t *testing.T) {
	dir := newLocalDirectory()
	dir.addUser(t, "alice", "secret")
	addr, _ := startFrontend(t, testConfig(t, dir))
	rc := loggedIn(t, addr, "alice")
	rc.collect("b", "SELECT ~!#$&'^_`|", "NO [CANNOT]")
	rc.collect("c", `SELECT "a]b{c"`, "NO [NONEXISTENT]")
	rc.collect("d", `LIST "" ~!#%*`, "OK")
	rc.collect("e", "NOOP", "OK")
}

// TestClientErrorsAreBAD: arguments the backends' IMAP library would
// answer NO [SERVERBUG] (an APPEND date-time it cannot parse, an unknown
// search key, a key of an extension not offered, a date out of range) and
// an 8-bit mailbox name outside a quoted string without UTF8=ACCEPT are
// client errors: BAD, and nothing changes. Valid criteria of every kind
// still pass. CREATE of an unknown special use is NO [USEATTR].
func TestClientErrorsAreBAD(t *testing.T) {
	cl := startTestCluster(t, 1, 1)
	cl.addUser("alice", 0)
	rc := loggedIn(t, cl.frontends[0], "alice")
	rc.send("a1 APPEND INBOX \"32-Foo-2020 99:00:00 +0000\" {3+}\r\nabc\r\n")
	if l := rc.until("a1 "); !strings.HasPrefix(l, "a1 BAD") {
		t.Fatalf("APPEND with an invalid date-time: %q", l)
	}
	rc.send("a2 APPEND INBOX (\\Seen) \"bogus\" {3}\r\n")
	if l := rc.until("a2 "); !strings.HasPrefix(l, "a2 BAD") {
		t.Fatalf("APPEND with an invalid date-time: %q", l)
	}
	rc.collect("a3", "NOOP", "OK")
	if n := rc.collect("s", "STATUS INBOX (MESSAGES)", "OK"); len(n) != 1 || !strings.Contains(n[0], "MESSAGES 0") {
		t.Fatalf("STATUS after the refused APPENDs: %q", n)
	}
	rc.send("a4 APPEND INBOX (\\Seen) \" 1-Jan-2020 10:00:00 +0000\" {3+}\r\nabc\r\n")
	if l := rc.until("a4 "); !strings.HasPrefix(l, "a4 OK") {
		t.Fatalf("APPEND with a valid date-time: %q", l)
	}
	rc.collect("sel", "SELECT INBOX", "OK")
	for i, key := range []string{
		"FOOBAR", "(FOO)", "YOUNGER 0", "OLDER x", "YOUNGER", "SAVEDBEFORE 32-Jan-2020",
		"SAVEDON", "SINCE 32-Jan-2020", "NOT", "OR SEEN", "LARGER x", "UID x",
		"()", "SUBJECT Gr\xc3\xbcn",
	} {
		rc.collect(fmt.Sprintf("b%d", i), "SEARCH "+key, "BAD")
		rc.collect(fmt.Sprintf("u%d", i), "UID SEARCH "+key, "BAD")
	}
	for i, key := range []string{
		"ALL", "RETURN (COUNT) CHARSET UTF-8 OR (SEEN FLAGGED) NOT 2:*",
		`UID 1:* SINCE 1-Jan-2020 BEFORE "2-Feb-2030" HEADER X-A "b" LARGER 1 SMALLER 100000`,
		"CHARSET UTF-8 SUBJECT \"Gr\xc3\xbcn\"", "KEYWORD $Junk UNKEYWORD foo NEW OLD RECENT 1,2:3 *",
		"(FROM a TO b CC c BCC d BODY e TEXT f) SENTON 1-Jan-2020 SENTSINCE 1-Jan-2020 SENTBEFORE 1-Jan-2020 ON 1-Jan-2020",
		"OR YOUNGER 100 (OLDER 5 NOT YOUNGER 7)",
	} {
		rc.collect(fmt.Sprintf("g%d", i), "SEARCH "+key, "OK")
	}
	for i, cmd := range []string{"CREATE Gr\xc3\xbcn", "SELECT Gr\xc3\xbcn", "COPY 1 Gr\xc3\xbcn", "LIST \"\" Gr\xc3\xbcn", "SUBSCRIBE Gr\xc3\xbcn"} {
		rc.collect(fmt.Sprintf("n%d", i), cmd, "BAD")
	}
	// An unknown special use (RFC 6154 section 5.1).
	rc.collect("u", `CREATE Bogus (USE (\Bogus))`, "NO [USEATTR]")
	if l := rc.collect("l", `LIST "" *`, "OK"); len(l) != 1 {
		t.Fatalf("LIST after the refused CREATEs: %q", l)
	}
	// Quoted, an 8-bit name is well formed but not modified UTF-7: NO.
	rc.collect("q", "CREATE \"Gr\xc3\xbcn\"", "NO [CANNOT]")
	rc.collect("e", "ENABLE UTF8=ACCEPT", "OK")
	rc.collect("c", "CREATE Gr\xc3\xbcn", "OK")
}
