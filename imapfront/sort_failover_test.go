package imapfront_test

import (
	"fmt"
	"strings"
	"testing"
)

// SORT and THREAD give the same answers after the backend holding the
// mailbox dies and its replica takes over: the session selects the
// mailbox there again before the command.
func TestSortAfterFailover(t *testing.T) {
	c, f := replicatedInbox(t)
	s := loginSort(t, f.IMAPAddr)
	appendPlans(s, "INBOX")
	s.ok("SELECT INBOX")
	checkPlans(t, s)

	c.Backends[0].Stop()
	markDown(t, c, "b1")
	checkPlans(t, s)
}

// A SORT in flight on a backend that freezes is answered from the new
// primary once the directory marks the frozen one down: the session
// selects the mailbox there and runs the SORT again (it changes nothing).
// So is a UID THREAD after a second failover back.
func TestSortInFlightFailsOver(t *testing.T) {
	c, f := replicatedInbox(t)
	s := loginSort(t, f.IMAPAddr)
	appendPlans(s, "INBOX")
	gates := map[string]*gate{}
	w := loginSort(t, frontendWithGates(t, c, gates))
	w.ok("SELECT INBOX")
	uids := w.uids()

	gates[c.Backends[0].IMAPAddr].freeze()
	w.n++
	tag := fmt.Sprintf("t%d", w.n)
	w.write(tag + " SORT RETURN (ALL COUNT) (DATE) UTF-8 ALL\r\n")
	markDown(t, c, "b1")
	untagged, tagged := w.until(tag)
	want := fmt.Sprintf(`* ESEARCH (TAG "%s") ALL 5,2,6,4,1,3 COUNT 6`, tag)
	if !strings.HasPrefix(tagged, "OK") || firstWith(untagged, "* ESEARCH") != want {
		t.Fatalf("SORT across the failover: %q %s, want %s", untagged, tagged, want)
	}
	for _, l := range untagged {
		if strings.Contains(l, "EXPUNGE") {
			t.Errorf("EXPUNGE during SORT: %q", l)
		}
	}
	got := w.answer("UID THREAD REFERENCES UTF-8 ALL", "* THREAD")
	if want := asUIDs("* THREAD (2 1 3)(6)(4 5)", uids); got != want {
		t.Errorf("UID THREAD on the new primary: %q, want %q", got, want)
	}
}
