package multiappend

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestHeaderRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	date := time.Date(2026, 12, 4, 10, 0, 0, 0, time.FixedZone("", 3600))
	want := []Header{{Flags: []string{`\Seen`, "$Label1"}, Date: date, Size: 5}, {Size: 1}, {End: true}}
	for _, h := range want {
		if err := WriteHeader(&buf, h); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(&buf)
	for i, w := range want {
		got, err := ReadHeader(r)
		if err != nil {
			t.Fatalf("header %d: %v", i, err)
		}
		if !got.Date.Equal(w.Date) || got.Size != w.Size || got.End != w.End || strings.Join(got.Flags, " ") != strings.Join(w.Flags, " ") {
			t.Fatalf("header %d = %+v, want %+v", i, got, w)
		}
	}
}

// Every malformed or cut-off request is ErrInvalid: the route then stores
// nothing.
func TestHeaderInvalid(t *testing.T) {
	for name, in := range map[string]string{
		"empty":         "",
		"cut mid-line":  `{"size":5`,
		"no newline":    `{"end":true}`,
		"not json":      "hello\n",
		"zero size":     `{"flags":["\\Seen"]}` + "\n",
		"negative size": `{"size":-1}` + "\n",
		"over a line":   `{"flags":["` + strings.Repeat("a", maxHeader) + `"]}` + "\n",
	} {
		_, err := ReadHeader(NewReader(strings.NewReader(in)))
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}
