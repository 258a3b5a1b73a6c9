package pop3d

import (
	"bufio"
	"strings"
	"testing"
)

func TestWriteStuffed(t *testing.T) {
	long := strings.Repeat("y", 40)
	for _, tc := range []struct {
		name, in  string
		bodyLines int
		bufSize   int
		want      string
	}{
		{"whole", "A: b\r\n\r\none\r\n.two\r\n", -1, 0, "A: b\r\n\r\none\r\n..two\r\n.\r\n"},
		{"bare LF and no last newline", "A: b\n\n.x\nlast", -1, 0, "A: b\r\n\r\n..x\r\nlast\r\n.\r\n"},
		{"a lone dot line", "A: b\r\n\r\n.\r\n", -1, 0, "A: b\r\n\r\n..\r\n.\r\n"},
		{"TOP 0", "A: b\r\nC: d\r\n\r\none\r\ntwo\r\n", 0, 0, "A: b\r\nC: d\r\n\r\n.\r\n"},
		{"TOP 1", "A: b\r\n\r\n.one\r\ntwo\r\n", 1, 0, "A: b\r\n\r\n..one\r\n.\r\n"},
		{"TOP past the end", "A: b\r\n\r\none\r\n", 5, 0, "A: b\r\n\r\none\r\n.\r\n"},
		{"no body", "A: b\r\n", 3, 0, "A: b\r\n.\r\n"},
		{"lines longer than the buffer", "A: b\r\n\r\n." + long + "\r\n" + long + ".\r\nend\r\n", -1, 16,
			"A: b\r\n\r\n.." + long + "\r\n" + long + ".\r\nend\r\n.\r\n"},
		{"CR at a buffer boundary", "A: b\r\n\r\n" + strings.Repeat("z", 15) + "\r\nend\r\n", -1, 16,
			"A: b\r\n\r\n" + strings.Repeat("z", 15) + "\r\nend\r\n.\r\n"},
		{"long lines counted once by TOP", "A: b\r\n\r\n" + long + "\r\n" + long + "\r\n", 1, 16,
			"A: b\r\n\r\n" + long + "\r\n.\r\n"},
	} {
		var sb strings.Builder
		w := bufio.NewWriter(&sb)
		size := tc.bufSize
		if size == 0 {
			size = 4096
		}
		if err := writeStuffed(w, bufio.NewReaderSize(strings.NewReader(tc.in), size), tc.bodyLines); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if sb.String() != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, sb.String(), tc.want)
		}
	}
}
