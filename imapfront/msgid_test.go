package imapfront

import (
	"slices"
	"testing"
)

// Message ids as RFC 5256 section 3 wants them: quoting normalised, what
// is not an id skipped.
func TestMsgIDs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`<"01KF8JCEOCBS0045PS"@xxx.yyy.com>`, []string{"01KF8JCEOCBS0045PS@xxx.yyy.com"}},
		{"<01KF8JCEOCBS0045PS@xxx.yyy.com>", []string{"01KF8JCEOCBS0045PS@xxx.yyy.com"}},
		{"garbage <> <b@x> junk", []string{"b@x"}},
		{"foo bar <a@x> baz", []string{"a@x"}},
		{`"Joe <j@x>" <real@x>`, []string{"real@x"}},
		{"(comment <c@x>) <d@x>", []string{"d@x"}},
		{"<a@x><b@x>\r\n\t<c@[1.2.3.4]>", []string{"a@x", "b@x", "c@[1.2.3.4]"}},
		{"<no-at-sign> <@x> <a@> <a@b", nil},
		{"<a b@c>", []string{"ab@c"}}, // obsolete white space inside, taken out
		{"", nil},
	} {
		if got := msgIDs(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("msgIDs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := firstMsgID("in your message <x@y> of <z@y>"); got != "x@y" {
		t.Errorf("firstMsgID: %q", got)
	}
}
