package imapfront

import (
	"bytes"
	"fmt"
	"strings"
)

// argReader tokenises a command's arguments on demand. Only the commands the
// frontend answers or routes are ever tokenised; everything else passes
// through as raw bytes.
type argReader struct {
	cmd *Command
	pos int
	lit int // index in cmd.Lits of the next literal
	end int // offset of the final CRLF
	// within: the WITHIN search keys read (searchargs.go), which the
	// frontend answers.
	within []withinKey
	// condstore: the MODSEQ, EMAILID and THREADID search keys are known
	// (CONDSTORE and OBJECTID are offered); spoolKeys are those read,
	// which the frontend answers from the backend's spool.
	condstore bool
	spoolKeys []spoolKey
	// returnOpts is where a SEARCH's RETURN options are, Raw[from:to]
	// (the list, its parentheses included), and their names.
	returnOpts *textEdit
}

func (c *Command) argReader() *argReader {
	return &argReader{cmd: c, pos: c.args, end: len(c.Raw) - 2}
}

// tokenKind is what the next argument is.
type tokenKind int

const (
	tokEnd tokenKind = iota
	tokAtom
	tokString // quoted or literal
	tokOpen
	tokClose
)

// sp consumes one space between arguments.
func (a *argReader) sp() bool {
	if a.pos < a.end && a.cmd.Raw[a.pos] == ' ' {
		a.pos++
		return true
	}
	return false
}

// peek reports the kind of the next token without consuming it.
func (a *argReader) peek() tokenKind {
	if a.pos >= a.end {
		return tokEnd
	}
	switch c := a.cmd.Raw[a.pos]; c {
	case '(':
		return tokOpen
	case ')':
		return tokClose
	case '"':
		return tokString
	case '{', '~':
		if a.atLiteral() {
			return tokString
		}
	}
	return tokAtom
}

func (a *argReader) atLiteral() bool {
	return a.lit < len(a.cmd.Lits) && a.cmd.Lits[a.lit].Marker == a.pos
}

// next reads one token: an atom (also a list-mailbox with wildcards, or a
// bracketed section), a quoted string, a literal, or a parenthesis.
func (a *argReader) next() (tokenKind, string, error) {
	raw := a.cmd.Raw
	switch k := a.peek(); k {
	case tokEnd:
		return k, "", fmt.Errorf("%w", ErrNoArgument)
	case tokOpen, tokClose:
		a.pos++
		return k, "", nil
	case tokString:
		if a.atLiteral() {
			l := a.cmd.Lits[a.lit]
			a.lit++
			a.pos = l.Start + int(l.Size)
			return k, string(raw[l.Start:a.pos]), nil
		}
		return a.quoted()
	}
	start := a.pos
	for a.pos < a.end {
		c := raw[a.pos]
		if c == ' ' || c == '(' || c == ')' || c == '"' || c < 0x20 || c == 0x7f {
			break
		}
		if c >= 0x80 && a.cmd.ascii {
			// ATOM-CHAR is 7-bit (RFC 3501 section 9); 8-bit text goes in
			// a quoted string or literal, and unquoted only after ENABLE
			// UTF8=ACCEPT.
			return tokAtom, "", fmt.Errorf("%w: 8-bit characters outside a quoted string", ErrSyntax)
		}
		if c == '[' {
			// A section such as BODY[HEADER.FIELDS (A B)] keeps its spaces.
			if j := bytes.IndexByte(raw[a.pos:a.end], ']'); j > 0 {
				a.pos += j + 1
				continue
			}
		}
		a.pos++
	}
	if a.pos == start {
		return tokAtom, "", fmt.Errorf("%w: unexpected %q", ErrSyntax, raw[a.pos])
	}
	return tokAtom, string(raw[start:a.pos]), nil
}

func (a *argReader) quoted() (tokenKind, string, error) {
	raw := a.cmd.Raw
	var b strings.Builder
	for i := a.pos + 1; i < a.end; i++ {
		switch c := raw[i]; c {
		case '\\':
			i++
			if i >= a.end || raw[i] != '\\' && raw[i] != '"' {
				return tokString, "", fmt.Errorf("%w: bad escape in quoted string", ErrSyntax)
			}
			b.WriteByte(raw[i])
		case '"':
			a.pos = i + 1
			return tokString, b.String(), nil
		case '\r', '\n':
			return tokString, "", fmt.Errorf("%w: CR or LF in quoted string", ErrSyntax)
		default:
			b.WriteByte(c)
		}
	}
	return tokString, "", fmt.Errorf("%w: unterminated quoted string", ErrSyntax)
}

// astring reads an atom or a string, after the space that precedes it.
func (a *argReader) astring() (string, error) {
	if !a.sp() {
		return "", fmt.Errorf("%w: expected an argument", ErrNoArgument)
	}
	k, s, err := a.next()
	if err != nil {
		return "", err
	}
	if k != tokAtom && k != tokString {
		return "", fmt.Errorf("%w: expected a string", ErrSyntax)
	}
	return s, nil
}

// atom reads an atom after its space, upper-cased.
func (a *argReader) atom() (string, error) {
	if !a.sp() {
		return "", fmt.Errorf("%w: expected an argument", ErrNoArgument)
	}
	k, s, err := a.next()
	if err != nil {
		return "", err
	}
	if k != tokAtom {
		return "", fmt.Errorf("%w: expected an atom", ErrSyntax)
	}
	return strings.ToUpper(s), nil
}

// list reads a parenthesised list of atoms and strings (nested lists are
// refused), after its space. A bare atom or string is read as a list of one
// when single is true (LIST's pattern argument may be either).
func (a *argReader) list(single bool) ([]string, error) {
	if !a.sp() {
		return nil, fmt.Errorf("%w: expected a list", ErrNoArgument)
	}
	if a.peek() != tokOpen {
		if !single {
			return nil, fmt.Errorf("%w: expected a list", ErrSyntax)
		}
		_, s, err := a.next()
		return []string{s}, err
	}
	a.pos++
	var items []string
	for {
		if a.peek() == tokClose {
			a.pos++
			return items, nil
		}
		if len(items) > 0 && !a.sp() {
			return nil, fmt.Errorf("%w: expected a space in list", ErrSyntax)
		}
		k, s, err := a.next()
		if err != nil {
			return nil, err
		}
		if k != tokAtom && k != tokString {
			return nil, fmt.Errorf("%w: nested list", ErrSyntax)
		}
		items = append(items, s)
	}
}

// done checks that no argument is left.
func (a *argReader) done() error {
	if a.pos != a.end {
		return fmt.Errorf("%w: unexpected arguments", ErrSyntax)
	}
	return nil
}
