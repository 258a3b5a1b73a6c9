package imapfront

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func testLimits() wireLimits {
	return wireLimits{MaxLine: 256, MaxLiteral: 1024, MaxBuffered: 1024, MaxCommand: 8192, HardLiteral: 4096}
}

// readAll reads commands until EOF, recording each command or error.
func readAll(t *testing.T, input string, lim wireLimits) (cmds []*Command, errs []*wireError, conts int) {
	t.Helper()
	w := newWireReader(bufio.NewReaderSize(strings.NewReader(input), 64), lim)
	for {
		cmd, err := w.ReadCommand(func() error { conts++; return nil })
		var we *wireError
		switch {
		case err == nil:
			cmds = append(cmds, cmd)
		case errors.As(err, &we):
			errs = append(errs, we)
			if we.Fatal {
				return
			}
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return
		default:
			t.Fatalf("unexpected error %v", err)
		}
	}
}

func TestReadCommand(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		tag   string
		cmd   string
		lits  int
		conts int
	}{
		{"simple", "a1 NOOP\r\n", "a1", "NOOP", 0, 0},
		{"lower case", "x capability\r\n", "x", "CAPABILITY", 0, 0},
		{"sync literal", "a LOGIN {3}\r\nbob {2}\r\npw\r\n", "a", "LOGIN", 2, 2},
		{"literal plus", "a LOGIN {3+}\r\nbob pw\r\n", "a", "LOGIN", 1, 0},
		{"literal8", "a APPEND INBOX ~{3}\r\na\x00b\r\n", "a", "APPEND", 1, 1},
		{"braces in quotes", "a SELECT \"x {5}\"\r\n", "a", "SELECT", 0, 0},
		{"escaped quote", "a SELECT \"x\\\" {5}\"\r\n", "a", "SELECT", 0, 0},
		{"literal holding CRLF", "a LOGIN {8}\r\nb\r\n{1}\r\n x\r\n", "a", "LOGIN", 1, 1},
		{"atom ending in brace", "a SELECT foo}\r\n", "a", "SELECT", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmds, errs, conts := readAll(t, tt.in, testLimits())
			if len(errs) > 0 || len(cmds) != 1 {
				t.Fatalf("got %d commands, errors %v", len(cmds), errs)
			}
			c := cmds[0]
			if c.Tag != tt.tag || c.Name != tt.cmd || len(c.Lits) != tt.lits || conts != tt.conts {
				t.Fatalf("got tag %q name %q lits %d conts %d", c.Tag, c.Name, len(c.Lits), conts)
			}
			if string(c.Raw) != tt.in {
				t.Fatalf("raw %q, want %q", c.Raw, tt.in)
			}
		})
	}
}

func TestReadCommandErrorsResync(t *testing.T) {
	tests := []struct {
		name string
		in   string
		err  error
		tag  string
	}{
		{"no name", "a\r\n", ErrSyntax, "*"},
		{"bad tag", "a+b NOOP\r\n", ErrSyntax, "*"},
		{"bare LF", "a NOOP\n", ErrSyntax, "a"},
		{"unterminated quote", "a SELECT \"abc\r\n", ErrSyntax, "a"},
		{"NUL", "a SELECT a\x00b\r\n", ErrSyntax, "a"},
		{"NUL before a literal", "a LOGIN \"a\x00b\" {10+}\r\nc NOOP\r\n\r\n\r\n", ErrSyntax, "a"},
		{"long line", "a SELECT " + strings.Repeat("x", 300) + "\r\n", ErrLineTooLong, "*"},
		{"long line with literal", "a X " + strings.Repeat("x", 300) + " {3+}\r\nabc\r\n", ErrLineTooLong, "*"},
		{"sync literal too big", "a APPEND INBOX {2000}\r\n", ErrLiteralTooBig, "a"},
		{"non-sync too big", "a APPEND INBOX {2000+}\r\n" + strings.Repeat("y", 2000) + " {2+}\r\nzz\r\n", ErrLiteralTooBig, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmds, errs, _ := readAll(t, tt.in+"b NOOP\r\n", testLimits())
			if len(errs) != 1 || !errors.Is(errs[0], tt.err) || errs[0].Tag != tt.tag || errs[0].Fatal {
				t.Fatalf("errors %v, want one %v for tag %q", errs, tt.err, tt.tag)
			}
			if len(cmds) != 1 || cmds[0].Tag != "b" || cmds[0].Name != "NOOP" {
				t.Fatalf("the next command was not read: %v", cmds)
			}
		})
	}
}

func TestReadCommandFatal(t *testing.T) {
	lim := testLimits()
	in := "a APPEND INBOX {100000+}\r\n" + strings.Repeat("z", 100) + "\r\nb NOOP\r\n"
	cmds, errs, _ := readAll(t, in, lim)
	if len(errs) != 1 || !errs[0].Fatal || len(cmds) != 0 {
		t.Fatalf("got %v %v, want one fatal error", cmds, errs)
	}
	lim.LiteralMinus = true
	cmds, errs, _ = readAll(t, "a LOGIN {5000+}\r\n"+strings.Repeat("z", 5000)+"\r\n", lim)
	if len(errs) != 1 || !errors.Is(errs[0], ErrLiteralMinus) || len(cmds) != 0 {
		t.Fatalf("LITERAL- over 4096: got %v %v", cmds, errs)
	}
}

// A command's literals together may not pass MaxCommand: the literal that
// would is refused before it is asked for, and the next command is read.
func TestReadCommandCapped(t *testing.T) {
	lim := testLimits()
	lim.MaxCommand = 1500
	in := "a X {1000}\r\n" + strings.Repeat("x", 1000) + " {1000}\r\nb NOOP\r\n"
	cmds, errs, conts := readAll(t, in, lim)
	if len(errs) != 1 || !errors.Is(errs[0], ErrLiteralTooBig) || errs[0].Tag != "a" || errs[0].Fatal || conts != 1 {
		t.Fatalf("errors %v after %d continuations, want one ErrLiteralTooBig after 1", errs, conts)
	}
	if len(cmds) != 1 || cmds[0].Tag != "b" {
		t.Fatalf("the next command was not read: %v", cmds)
	}
}

func TestStopAtLiteral(t *testing.T) {
	in := "a APPEND INBOX (\\Seen) {5}\r\nhello\r\nb NOOP\r\n"
	br := bufio.NewReader(strings.NewReader(in))
	w := newWireReader(br, testLimits())
	w.StopAt = isAppendMessage
	cmd, err := w.ReadCommand(nil)
	if err != nil || cmd.Pending == nil || cmd.Pending.Size != 5 {
		t.Fatalf("got %+v, %v", cmd, err)
	}
	body := make([]byte, 5)
	if _, err := io.ReadFull(br, body); err != nil || string(body) != "hello" {
		t.Fatalf("body %q %v", body, err)
	}
	if err := w.Continue(cmd, nil); err != nil || len(cmd.Lits) != 1 {
		t.Fatalf("continue: %v", err)
	}
	next, err := w.ReadCommand(nil)
	if err != nil || next.Name != "NOOP" {
		t.Fatalf("next %+v %v", next, err)
	}
}

func TestArgs(t *testing.T) {
	cmds, errs, _ := readAll(t, "a LIST (SUBSCRIBED REMOTE) \"\" (\"a\\\\b\" {3}\r\nx y %/*) RETURN (CHILDREN)\r\n", testLimits())
	if len(errs) > 0 || len(cmds) != 1 {
		t.Fatalf("%v %v", cmds, errs)
	}
	a := cmds[0].argReader()
	sel, err := a.list(false)
	if err != nil || strings.Join(sel, ",") != "SUBSCRIBED,REMOTE" {
		t.Fatalf("selection %v %v", sel, err)
	}
	ref, err := a.astring()
	if err != nil || ref != "" {
		t.Fatalf("ref %q %v", ref, err)
	}
	pats, err := a.list(true)
	if err != nil || strings.Join(pats, ",") != `a\b,x y,%/*` {
		t.Fatalf("patterns %q %v", pats, err)
	}
	kw, err := a.atom()
	if err != nil || kw != "RETURN" {
		t.Fatalf("return %q %v", kw, err)
	}
	if ret, err := a.list(false); err != nil || len(ret) != 1 || a.done() != nil {
		t.Fatalf("return opts %v %v", ret, err)
	}
}
