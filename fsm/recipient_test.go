package fsm

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseRecipient(t *testing.T) {
	for _, tc := range []struct {
		addr  string
		want  Recipient
		users []string
	}{
		{"ann@example.org", Recipient{"ann", "ann", "", "example.org"}, []string{"ann@example.org", "ann"}},
		{"Ann@Example.ORG", Recipient{"Ann", "Ann", "", "example.org"}, []string{"ann@example.org", "ann"}},
		{"bob+lists@example.org", Recipient{"bob+lists", "bob", "lists", "example.org"}, []string{"bob@example.org", "bob"}},
		{"bob+Lists@example.org", Recipient{"bob+Lists", "bob", "Lists", "example.org"}, []string{"bob@example.org", "bob"}},
		// The first '+' splits: the rest is the detail, '+' and all.
		{"bob+a+b@example.org", Recipient{"bob+a+b", "bob", "a+b", "example.org"}, []string{"bob@example.org", "bob"}},
		{"bob+@example.org", Recipient{"bob+", "bob", "", "example.org"}, []string{"bob@example.org", "bob"}},
		{"first.last@mail.example.org", Recipient{"first.last", "first.last", "", "mail.example.org"},
			[]string{"first.last@mail.example.org", "first.last"}},
		// Valid addresses that no user name can match: no candidates.
		{"bad!user@example.org", Recipient{"bad!user", "bad!user", "", "example.org"}, nil},
		{"+lists@example.org", Recipient{"+lists", "", "lists", "example.org"}, nil},
		{"o'brien@example.org", Recipient{"o'brien", "o'brien", "", "example.org"}, nil},
		{"ann@[192.0.2.1]", Recipient{"ann", "ann", "", "[192.0.2.1]"}, []string{"ann"}},
		{"ann@[IPv6:2001:db8::1]", Recipient{"ann", "ann", "", "[ipv6:2001:db8::1]"}, []string{"ann"}},
		{"ann@xn--bcher-kva.example", Recipient{"ann", "ann", "", "xn--bcher-kva.example"},
			[]string{"ann@xn--bcher-kva.example", "ann"}},
		{strings.Repeat("a", 64) + "@example.org", Recipient{strings.Repeat("a", 64), strings.Repeat("a", 64), "", "example.org"},
			[]string{strings.Repeat("a", 64) + "@example.org", strings.Repeat("a", 64)}},
	} {
		got, err := ParseRecipient(tc.addr)
		if err != nil {
			t.Errorf("%q: %v", tc.addr, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%q: %+v, want %+v", tc.addr, got, tc.want)
		}
		if users := got.Users(); !slices.Equal(users, tc.users) {
			t.Errorf("%q: users %q, want %q", tc.addr, users, tc.users)
		}
	}
}

func TestParseRecipientRefuses(t *testing.T) {
	for _, addr := range []string{
		"",
		"ann",                       // no domain
		"@example.org",              // no local part
		"ann@",                      // no domain
		`"ann"@example.org`,         // quoted local part
		`"a b"@example.org`,         //
		"a b@example.org",           // space
		"ann,bob@example.org",       // list
		"<ann@example.org>",         // angle brackets are the path's, not the address's
		"@relay.example:ann@ex.org", // source route
		".ann@example.org",          // dot-string: no leading dot
		"ann.@example.org",          // nor trailing
		"a..nn@example.org",         // nor two in a row
		"ann@@example.org",          //
		"a\\nn@example.org",         // a backslash is not atext
		"ann@example..org",          // empty label
		"ann@.example.org",          //
		"ann@example.org.",          // trailing dot
		"ann@-example.org",          // label starts with a hyphen
		"ann@example-.org",          // or ends with one
		"ann@exa_mple.org",          // underscore
		"ann@[192.0.2.1",            // unclosed literal
		"ann@[999.0.2.1]",           //
		"ann@[2001:db8::1]",         // IPv6 needs its tag
		"ann@[IPv6:192.0.2.1]",      //
		"ann@[tag:anything]",        // general address literals are not taken
		"ännchen@example.org",       // 8-bit local part without SMTPUTF8
		strings.Repeat("a", 65) + "@example.org",
		"ann@" + strings.Repeat("a", 64) + ".org",
		"ann@" + strings.Repeat(strings.Repeat("a", 60)+".", 5) + "org",
	} {
		if r, err := ParseRecipient(addr); !errors.Is(err, ErrBadAddress) {
			t.Errorf("%q: %+v, %v; want ErrBadAddress", addr, r, err)
		}
	}
}
