package spool

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPreview(t *testing.T) {
	long := strings.Repeat("word ", 100)
	for _, tc := range []struct{ name, msg, want string }{
		{"plain", "Subject: a\r\n\r\nHello,\r\n\r\n  how are\tyou?\r\n", "Hello, how are you?"},
		{"no body", "Subject: a\r\n\r\n", ""},
		{"quoted-printable latin-1", "Subject: a\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe\r\n", "Grüße"},
		{"multipart, html first", "Subject: a\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--b\r\nContent-Type: text/plain\r\n\r\nplain text\r\n--b--\r\n", "plain text"},
		{"html only", "Subject: a\r\nContent-Type: text/html\r\n\r\n<html><head><style>p{}</style></head><body><p>Fish &amp; chips</p><br>tonight</body></html>\r\n", "Fish & chips tonight"},
		{"attachment only", "Subject: a\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=x.pdf\r\n\r\nJVBERi0=\r\n--b--\r\n", ""},
	} {
		if got := preview(strings.NewReader(tc.msg)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	got := preview(strings.NewReader("Subject: a\r\n\r\n" + long + strings.Repeat("é", 300)))
	if n := utf8.RuneCountInString(got); n != PreviewLength || !utf8.ValidString(got) || strings.HasSuffix(got, " ") {
		t.Errorf("a long text: %d characters, %q", n, got[len(got)-10:])
	}
}
