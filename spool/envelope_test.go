package spool

import (
	"os"
	"os/exec"
	"reflect"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/textproto"
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

// An ENVELOPE's date at a zone name the Date header ends with (RFC 5322
// section 4.3) is at that zone's offset, whatever the local zone calls the
// name, and a numeric offset stays as written even where the local zone
// names it (+0800 is CST in Shanghai): the test runs itself again under
// TZ set to zones that name these offsets.
func TestEnvelopeDateZoneNames(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Mon, 02 Jan 2006 15:04:05 EST", "2006-01-02T15:04:05-05:00"},
		{"Mon, 02 Jan 2006 15:04:05 pdt", "2006-01-02T15:04:05-07:00"},
		{"Mon, 02 Jan 2006 15:04:05 GMT", "2006-01-02T15:04:05Z"},
		{"Mon, 02 Jan 2006 15:04:05 +0800", "2006-01-02T15:04:05+08:00"},
		{"Mon, 02 Jan 2006 15:04:05 -0500 (EST)", "2006-01-02T15:04:05-05:00"},
		{"Mon, 02 Jan 2006 15:04:05 +1000", "2006-01-02T15:04:05+10:00"},
	} {
		var h textproto.Header
		h.Set("Date", tc.in)
		env := extractEnvelope(h)
		if got := env.Date.Format(time.RFC3339); got != tc.want {
			t.Errorf("TZ=%s: Date %q: %s, want %s", os.Getenv("TZ"), tc.in, got, tc.want)
		}
	}
	if os.Getenv("ROOKERY_TZ_CHILD") != "" {
		return
	}
	for _, zone := range []string{"Asia/Shanghai", "Australia/Sydney", "America/New_York"} {
		if _, err := time.LoadLocation(zone); err != nil {
			t.Skipf("no zone data for %s (Debian's tzdata): %v", zone, err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestEnvelopeDateZoneNames$", "-test.count=1")
		cmd.Env = append(os.Environ(), "TZ="+zone, "ROOKERY_TZ_CHILD=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("TZ=%s: %v\n%s", zone, err, out)
		}
	}
}
