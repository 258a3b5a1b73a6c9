package imapfront

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzReadCommand feeds arbitrary bytes followed by a well-formed command:
// the reader must never panic, every command it returns must be exactly the
// bytes it consumed, and unless it gave up with a fatal error, the trailing
// sentinel command must still be read intact.
func FuzzReadCommand(f *testing.F) {
	for _, s := range []string{
		"a NOOP\r\n",
		"a LOGIN {3}\r\nbob {2+}\r\npw\r\n",
		"a APPEND INBOX ~{3}\r\na\x00b\r\n",
		"a SELECT \"x {5}\"\r\n",
		"a LIST \"\" (\"a\" %)\r\n",
		"a FETCH 1:* (BODY.PEEK[HEADER.FIELDS (FROM TO)])\r\n",
		"a APPEND INBOX {99999999}\r\n",
		"a APPEND INBOX {5000+}\r\n",
		"{5}\r\n",
		"a SELECT \"\\",
		"a X {3}",
	} {
		f.Add([]byte(s))
	}
	const sentinel = "zz9 NOOP\r\n"
	f.Fuzz(func(t *testing.T, in []byte) {
		input := append(append([]byte(nil), in...), "\r\n"+sentinel...)
		w := newWireReader(bufio.NewReaderSize(bytes.NewReader(input), 16), wireLimits{MaxLine: 64, MaxLiteral: 128, MaxBuffered: 128, MaxCommand: 256, HardLiteral: 512})
		for i := 0; i < 1000; i++ {
			cmd, err := w.ReadCommand(func() error { return nil })
			var we *wireError
			switch {
			case err == nil:
				if !bytes.HasSuffix(cmd.Raw, []byte("\r\n")) || cmd.Tag == "" {
					t.Fatalf("bad command %q", cmd.Raw)
				}
				for _, l := range cmd.Lits {
					if l.Start+int(l.Size) > len(cmd.Raw) || l.Marker >= l.Start {
						t.Fatalf("literal %+v outside %q", l, cmd.Raw)
					}
				}
				if string(cmd.Raw) == sentinel {
					return
				}
				walkArgs(cmd)
			case errors.As(err, &we):
				if we.Fatal {
					return
				}
			default:
				return // end of input: the sentinel was swallowed by a literal
			}
		}
		t.Fatalf("no end after 1000 commands")
	})
}

// walkArgs tokenises every argument, as a handler might.
func walkArgs(cmd *Command) {
	a := cmd.argReader()
	for a.sp() || a.peek() == tokOpen || a.peek() == tokClose {
		if _, _, err := a.next(); err != nil {
			return
		}
	}
}

func FuzzUTF7(f *testing.F) {
	for _, s := range []string{"INBOX", "&-", "Entw&APw-rfe", "&ZeVnLIqe-", "&2D3eAA-", "&AGE-", "a&", "&Jjo-!"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if dec, err := decodeUTF7(s); err == nil {
			if enc := encodeUTF7(dec); enc != s {
				t.Fatalf("decode(%q) = %q re-encodes as %q", s, dec, enc)
			}
		}
		if !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError) {
			return
		}
		dec, err := decodeUTF7(encodeUTF7(s))
		if err != nil || dec != s {
			t.Fatalf("round trip of %q: %q %v", s, dec, err)
		}
	})
}
