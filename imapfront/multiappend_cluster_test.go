package imapfront_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// multiAppend sends one APPEND of msgs (each "flags date" options, then
// the message) to mailbox, with synchronizing literals when sync, and
// returns its tagged answer.
func (s *sortSession) multiAppend(mailbox string, sync bool, opts, msgs []string) (untagged []string, tagged string) {
	s.t.Helper()
	s.n++
	tag := "t" + strconv.Itoa(s.n)
	line := tag + " APPEND " + mailbox
	for i, m := range msgs {
		plus := "+"
		if sync {
			plus = ""
		}
		line += fmt.Sprintf(" %s{%d%s}\r\n", opts[i], len(m), plus)
		s.write(line)
		if sync {
			if l := s.read(); !strings.HasPrefix(l, "+") {
				return append(untagged, l), ""
			}
		}
		line = m
	}
	s.write(line + "\r\n")
	return s.until(tag)
}

var appendUID = regexp.MustCompile(`^OK \[APPENDUID (\d+) ([0-9,:]+)\] `)

// TestMultiAppend: the messages of one APPEND (RFC 3502) are stored in a
// mailbox on another backend than the first, with their flags and dates,
// with synchronizing literals and with LITERAL+, a large one among them;
// APPENDUID names them all; a mailbox selected hears of them before OK.
func TestMultiAppend(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1})
	c.AddUser("alice", 0)
	c.Create(1, "user/alice/Archive")
	s := loginSort(t, c.Frontends[0].IMAPAddr)
	if caps := s.answer("CAPABILITY", "* CAPABILITY"); !strings.Contains(caps, " MULTIAPPEND") {
		t.Fatalf("MULTIAPPEND not offered: %q", caps)
	}
	large := "Subject: large\r\n\r\n" + strings.Repeat("a line of a large message\r\n", 20_000)
	msgs := []string{"Subject: one\r\n\r\nfirst\r\n", large, "Subject: three\r\n\r\nthird\r\n"}
	opts := []string{`(\Seen) "01-Feb-2024 10:00:00 +0100" `, "", `($Work \Flagged) `}
	for _, sync := range []bool{true, false} {
		_, tagged := s.multiAppend("Archive", sync, opts, msgs)
		m := appendUID.FindStringSubmatch(tagged)
		if m == nil || len(strings.Split(m[2], ",")) != 3 {
			t.Fatalf("sync %v: %q", sync, tagged)
		}
	}
	if l := s.answer("STATUS Archive (MESSAGES)", "* STATUS"); !strings.Contains(l, "MESSAGES 6") {
		t.Fatalf("after two APPENDs of three: %q", l)
	}
	s.ok("SELECT Archive")
	fetched := s.ok("FETCH 1:6 (FLAGS INTERNALDATE RFC822.SIZE)")
	if len(fetched) != 6 {
		t.Fatalf("FETCH: %q", fetched)
	}
	for i, l := range fetched {
		want := []string{`\Seen`, "", `$Work`}[i%3]
		if !strings.Contains(l, want) || !strings.Contains(l, "RFC822.SIZE "+strconv.Itoa(len(msgs[i%3]))) {
			t.Fatalf("message %d: %q", i+1, l)
		}
		if i%3 == 0 && !strings.Contains(l, `" 1-Feb-2024 10:00:00 +0100"`) {
			t.Fatalf("message %d's date: %q", i+1, l)
		}
	}
	// Into the selected mailbox: its EXISTS comes before the OK.
	untagged, tagged := s.multiAppend("Archive", false, []string{"", ""}, msgs[:2])
	if !appendUID.MatchString(tagged) || !contains(untagged, "* 8 EXISTS") {
		t.Fatalf("into the selected mailbox: %q %q", untagged, tagged)
	}
}

// TestMultiAppendNone: a MULTIAPPEND that fails at any message stores
// none of them: an invalid flag, a message over APPENDLIMIT, a client
// that goes away part way, a mailbox that does not exist.
func TestMultiAppendNone(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1})
	c.AddUser("alice", 0)
	c.Create(1, "user/alice/Archive")
	s := loginSort(t, c.Frontends[0].IMAPAddr)
	msg := "Subject: m\r\n\r\nbody\r\n"
	empty := func(when string) {
		t.Helper()
		if l := s.answer("STATUS Archive (MESSAGES)", "* STATUS"); !strings.Contains(l, "MESSAGES 0") {
			t.Fatalf("%s: %q", when, l)
		}
	}
	if _, tagged := s.multiAppend("Archive", false, []string{"", `(\Bogus) `}, []string{msg, msg}); !strings.HasPrefix(tagged, "BAD") {
		t.Fatalf("an invalid flag: %q", tagged)
	}
	empty("after an invalid flag")
	if _, tagged := s.multiAppend("Archive", false, []string{"", `"31-Feb-2024 99:00:00 +0000" `}, []string{msg, msg}); !strings.HasPrefix(tagged, "BAD") {
		t.Fatalf("an invalid date: %q", tagged)
	}
	empty("after an invalid date")

	// A second message over APPENDLIMIT, in a synchronizing literal: NO
	// [TOOBIG] instead of the continuation.
	caps := s.answer("CAPABILITY", "* CAPABILITY")
	limit, _ := strconv.Atoi(regexp.MustCompile(`APPENDLIMIT=(\d+)`).FindStringSubmatch(caps)[1])
	s.n++
	tag := "t" + strconv.Itoa(s.n)
	s.write(fmt.Sprintf("%s APPEND Archive {%d+}\r\n%s {%d}\r\n", tag, len(msg), msg, limit+1))
	if _, tagged := s.until(tag); !strings.HasPrefix(tagged, "NO [TOOBIG]") {
		t.Fatalf("a second message over the limit: %q", tagged)
	}
	empty("after a message over the limit")

	// A client that goes away in the second message.
	gone := loginSort(t, c.Frontends[0].IMAPAddr)
	gone.write(fmt.Sprintf("g APPEND Archive {%d+}\r\n%s {%d+}\r\n%s", len(msg), msg, len(msg), msg[:5]))
	gone.c.Close()
	empty("after a client went away")

	if _, tagged := s.multiAppend("Nowhere", false, []string{"", ""}, []string{msg, msg}); !strings.HasPrefix(tagged, "NO [TRYCREATE]") {
		t.Fatalf("into no mailbox: %q", tagged)
	}
	// The session goes on: a MULTIAPPEND after them stores both.
	if _, tagged := s.multiAppend("Archive", false, []string{"", ""}, []string{msg, msg}); !appendUID.MatchString(tagged) {
		t.Fatalf("after the refusals: %q", tagged)
	}
	if l := s.answer("STATUS Archive (MESSAGES)", "* STATUS"); !strings.Contains(l, "MESSAGES 2") {
		t.Fatalf("after the refusals and one MULTIAPPEND: %q", l)
	}
}

// TestMultiAppendAfterFailover: a MULTIAPPEND acknowledged before its
// mailbox's primary fails is on the new primary, and the next goes there.
func TestMultiAppendAfterFailover(t *testing.T) {
	c, f := replicatedInbox(t)
	s := loginSort(t, f.IMAPAddr)
	msgs := []string{"Subject: a\r\n\r\na\r\n", "Subject: b\r\n\r\nb\r\n"}
	if _, tagged := s.multiAppend("INBOX", false, []string{"", ""}, msgs); !appendUID.MatchString(tagged) {
		t.Fatalf("before the failover: %q", tagged)
	}
	c.Backends[0].Stop()
	markDown(t, c, "b1")
	if _, tagged := s.multiAppend("INBOX", true, []string{"", ""}, msgs); !appendUID.MatchString(tagged) {
		t.Fatalf("after the failover: %q", tagged)
	}
	if l := s.answer("STATUS INBOX (MESSAGES)", "* STATUS"); !strings.Contains(l, "MESSAGES 4") {
		t.Fatalf("after the failover: %q", l)
	}
}

func contains(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}
