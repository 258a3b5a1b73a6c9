package uidorder

import (
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestOrder(t *testing.T) {
	var o Order
	o.Observe(7, []imap.UID{1, 2, 4})
	o.Observe(7, []imap.UID{1, 2, 4, 6, 9}) // new ones above: fine
	o.Observe(7, []imap.UID{2, 4, 9})       // an expunge: fine
	if v := o.Violations(); len(v) != 0 {
		t.Fatalf("ascending UIDs gave %v", v)
	}
	if o.Learnt() != 5 || o.Top() != 9 || !o.Seen(6) || o.Seen(5) {
		t.Fatalf("learnt %d, top %d", o.Learnt(), o.Top())
	}
	o.Observe(7, []imap.UID{2, 4, 5, 9})    // 5 is new and below 9
	o.Observe(7, []imap.UID{1, 2, 4, 5, 9}) // 1 was expunged
	o.Observe(8, []imap.UID{10})
	v := o.Violations()
	if len(v) != 3 || v[0] != "new UID 5 appeared below 9" || v[1] != "UID 1 came back after it was gone" || v[2] != "uidvalidity 7 became 8" {
		t.Fatalf("violations %q", v)
	}
}
