package imapfront_test

import (
	"strings"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// appendAged appends a message per age, in order, to mailbox.
func appendAged(s *sortSession, mailbox string, now time.Time, ages ...time.Duration) {
	for i, age := range ages {
		s.appendAt(mailbox, now.Add(-age).Format("02-Jan-2006 15:04:05 -0700"),
			"Subject: aged "+strings.Repeat("x", i)+"\r\n\r\nbody\r\n")
	}
}

// WITHIN on a mailbox whose primary is another backend than the INBOX's.
func TestWithinOnAnotherBackend(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1})
	c.AddUser("alice", 0)
	c.Create(1, "user/alice/Archive")
	s := loginSort(t, c.Frontends[0].IMAPAddr)
	now := time.Now()
	appendAged(s, "Archive", now, 48*time.Hour, time.Hour, time.Minute, 72*time.Hour)
	s.ok("SELECT Archive")
	if got := s.answer("SEARCH YOUNGER 7200", "* SEARCH"); got != "* SEARCH 2 3" {
		t.Fatalf("SEARCH YOUNGER 7200: %q", got)
	}
	if got := s.answer("SORT (ARRIVAL) UTF-8 OLDER 7200", "* SORT"); got != "* SORT 4 1" {
		t.Fatalf("SORT OLDER 7200: %q", got)
	}
}

// WITHIN gives the same answers after the backend holding the mailbox
// dies and its replica takes over.
func TestWithinAfterFailover(t *testing.T) {
	c, f := replicatedInbox(t)
	s := loginSort(t, f.IMAPAddr)
	now := time.Now()
	appendAged(s, "INBOX", now, 48*time.Hour, time.Hour, time.Minute, 72*time.Hour)
	s.ok("SELECT INBOX")
	uids := s.uids()
	check := func(when string) {
		if got := s.answer("SEARCH OR YOUNGER 120 OLDER 200000", "* SEARCH"); got != "* SEARCH 3 4" {
			t.Fatalf("%s: SEARCH OR YOUNGER OLDER: %q", when, got)
		}
		if got, want := s.answer("UID SEARCH NOT YOUNGER 7200", "* SEARCH"), asUIDs("* SEARCH 1 4", uids); got != want {
			t.Fatalf("%s: UID SEARCH NOT YOUNGER: %q, want %q", when, got, want)
		}
	}
	check("before the failover")
	c.Backends[0].Stop()
	markDown(t, c, "b1")
	check("after the failover")
}
