package spool

import (
	"reflect"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestGroupedAddresses(t *testing.T) {
	alice := imap.Address{Name: "Alice", Mailbox: "alice", Host: "example.org"}
	bob := imap.Address{Mailbox: "bob", Host: "example.org"}
	end := imap.Address{}
	cases := []struct {
		raw  string
		want []imap.Address
	}{
		{"undisclosed-recipients:;", []imap.Address{{Mailbox: "undisclosed-recipients"}, end}},
		{"Friends: Alice <alice@example.org>, bob@example.org;",
			[]imap.Address{{Mailbox: "Friends"}, alice, bob, end}},
		{"bob@example.org, \"The Team\": Alice <alice@example.org>;, bob@example.org",
			[]imap.Address{bob, {Mailbox: "The Team"}, alice, end, bob}},
		{"=?utf-8?q?Gr=C3=BCppe?=: bob@example.org;", []imap.Address{{Mailbox: "Grüppe"}, bob, end}},
		// A colon in a quoted name or a route is no group.
		{"\"a: b\" <bob@example.org>", nil},
		{"Empty:; Alice <alice@example.org>", []imap.Address{{Mailbox: "Empty"}, end, alice}},
	}
	for _, c := range cases {
		if c.want == nil {
			if hasGroup(c.raw) {
				t.Errorf("%q: taken for a group", c.raw)
			}
			continue
		}
		if got := groupedAddresses(c.raw); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", c.raw, got, c.want)
		}
	}
}
