package imapfront

import (
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
// not offered) is refused with BAD and stores neither; the session goes
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
