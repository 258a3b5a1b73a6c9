package imapfront

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// The framing parser reads one client command at a time: its tag, its name
// and the raw bytes of the whole command, literals included. It knows
// atoms, quoted strings and every literal form (synchronizing {n},
// non-synchronizing {n+}, literal8 ~{n}) and nothing of a command's
// grammar; arguments are tokenised later, and only for the commands the
// frontend itself must understand (args.go).

// literalMinusMax is the largest non-synchronizing literal a LITERAL- server
// accepts (RFC 7888).
const literalMinusMax = 4096

// wireLimits bound what one command may cost before it is refused.
type wireLimits struct {
	MaxLine      int   // bytes in one line (the text between literals)
	MaxLiteral   int64 // largest streamed literal accepted (APPENDLIMIT)
	MaxCommand   int64 // a whole command held in memory, literals included
	MaxBuffered  int64 // largest literal held in memory (any other literal)
	HardLiteral  int64 // a non-synchronizing literal above this closes the connection
	LiteralMinus bool  // only advertise LITERAL-: non-synchronizing literals up to 4096 bytes
}

// literal is one literal inside Command.Raw.
type literal struct {
	Marker int   // offset in Raw of '{' or '~'
	Start  int   // offset in Raw of the literal's first byte
	Size   int64 // bytes of data
	Sync   bool  // the client waits for a continuation request
	Binary bool  // literal8 (~{n}), may hold NUL
}

// Command is one client command as read from the wire.
type Command struct {
	Tag  string
	Name string // upper case
	Raw  []byte // the command exactly as sent, CRLF included
	Lits []literal
	// Pending is set when reading stopped at a literal whose data has not
	// been read (see wireReader.StopAt): Raw ends with the literal's
	// announcement line.
	Pending *literal
	args    int // offset in Raw where the arguments start
	// ascii: an atom may not hold 8-bit bytes (the client has not enabled
	// UTF8=ACCEPT); argReader refuses one as a syntax error.
	ascii bool
}

// wireError is a command that cannot be run. Unless Fatal, the whole command
// has been consumed and the next one can be read.
type wireError struct {
	Tag   string // "*" when the tag could not be read
	Err   error  // one of the sentinels
	Msg   string
	Fatal bool
}

func (e *wireError) Error() string { return fmt.Sprintf("%v: %s", e.Err, e.Msg) }
func (e *wireError) Unwrap() error { return e.Err }

// wireReader reads commands from a client.
type wireReader struct {
	r   *bufio.Reader
	lim wireLimits
	// StopAt, when it returns true for a command and the literal it has
	// reached, makes ReadCommand return there without reading the
	// literal's data, so that the caller can stream it (APPEND's message).
	StopAt func(cmd *Command, lit *literal) bool
}

func newWireReader(r *bufio.Reader, lim wireLimits) *wireReader {
	return &wireReader{r: r, lim: lim}
}

// ReadCommand reads one command. cont is called before the data of each
// synchronizing literal is read; it must send the client a continuation
// request. Errors are *wireError, or an I/O error from the connection.
func (w *wireReader) ReadCommand(cont func() error) (*Command, error) {
	cmd := &Command{}
	line, err := w.readLine(nil)
	if err != nil {
		if errors.Is(err, ErrSyntax) {
			// The line is whole but malformed (a NUL, a bare LF): answer
			// its tag, so that the client is not left waiting.
			cmd.Raw = line
			if cmd.parseHead() != nil {
				cmd.Tag = ""
			}
		}
		return nil, w.resync(cmd, err)
	}
	cmd.Raw = line
	if err := cmd.parseHead(); err != nil {
		return nil, w.resync(cmd, err)
	}
	return cmd, w.readLiterals(cmd, 0, cont)
}

// Continue reads the rest of a command that ReadCommand returned with
// Pending set, once the caller has consumed the pending literal's data.
func (w *wireReader) Continue(cmd *Command, cont func() error) error {
	lit := *cmd.Pending
	cmd.Pending = nil
	cmd.Lits = append(cmd.Lits, lit)
	lineStart := len(cmd.Raw)
	line, err := w.readLine(cmd.Raw)
	if err != nil {
		return w.resync(cmd, err)
	}
	cmd.Raw = line
	return w.readLiterals(cmd, lineStart, cont)
}

// readLiterals reads literals and the lines after them until the line that
// ends the command. lineStart is where the last line read begins in Raw.
func (w *wireReader) readLiterals(cmd *Command, lineStart int, cont func() error) error {
	for {
		lit, err := parseLiteralHead(cmd.Raw, lineStart)
		if err != nil {
			return w.resync(cmd, err)
		}
		if lit == nil {
			return nil
		}
		stop := w.StopAt != nil && w.StopAt(cmd, lit)
		if err := w.checkLiteral(cmd, lit, stop); err != nil {
			return w.refuseLiteral(cmd, lit, err)
		}
		if stop {
			cmd.Pending = lit
			return nil
		}
		if lit.Sync {
			if err := cont(); err != nil {
				return err
			}
		}
		n := len(cmd.Raw)
		cmd.Raw = append(cmd.Raw, make([]byte, lit.Size)...)
		if _, err := io.ReadFull(w.r, cmd.Raw[n:]); err != nil {
			return err
		}
		cmd.Lits = append(cmd.Lits, *lit)
		lineStart = len(cmd.Raw)
		line, err := w.readLine(cmd.Raw)
		if err != nil {
			return w.resync(cmd, err)
		}
		cmd.Raw = line
	}
}

// checkLiteral applies the limits: MaxLiteral for a literal that will be
// streamed, MaxBuffered for one held in memory, which must also leave the
// whole command within MaxCommand.
func (w *wireReader) checkLiteral(cmd *Command, lit *literal, streamed bool) error {
	if !lit.Sync && w.lim.LiteralMinus && lit.Size > literalMinusMax {
		return fmt.Errorf("%w: over %d bytes", ErrLiteralMinus, literalMinusMax)
	}
	limit := w.lim.MaxBuffered
	if streamed {
		limit = w.lim.MaxLiteral
	}
	if lit.Size > limit {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrLiteralTooBig, lit.Size, limit)
	}
	if !streamed && int64(len(cmd.Raw))+lit.Size > w.lim.MaxCommand {
		return fmt.Errorf("%w: command over %d bytes", ErrLiteralTooBig, w.lim.MaxCommand)
	}
	return nil
}

// refuseLiteral ends a command whose literal is refused before any of its
// data is read. A client waits for a continuation before sending a
// synchronizing literal, so there is nothing to skip; a non-synchronizing
// literal is on its way and is discarded, unless it is so big that closing
// is cheaper.
func (w *wireReader) refuseLiteral(cmd *Command, lit *literal, err error) error {
	we := &wireError{Tag: cmd.Tag, Err: ErrLiteralTooBig, Msg: err.Error()}
	if errors.Is(err, ErrLiteralMinus) {
		we.Err = ErrLiteralMinus
	}
	if lit.Sync {
		return we
	}
	budget := w.lim.HardLiteral
	if lit.Size > budget {
		we.Fatal = true
		return we
	}
	return w.skipLiteral(we, lit.Size, budget)
}

// lineTooLong carries the end of an overlong line, which may announce a
// literal that must be skipped too.
type lineTooLong struct{ tail []byte }

func (e *lineTooLong) Error() string { return ErrLineTooLong.Error() }
func (e *lineTooLong) Unwrap() error { return ErrLineTooLong }

// resync turns a framing error into a wireError, consuming what is left of
// the command so that the next one can be read.
func (w *wireReader) resync(cmd *Command, err error) error {
	tag := cmd.Tag
	if tag == "" {
		tag = "*"
	}
	var long *lineTooLong
	switch {
	case errors.As(err, &long):
		we := &wireError{Tag: tag, Err: ErrLineTooLong, Msg: fmt.Sprintf("line longer than %d bytes", w.lim.MaxLine)}
		return w.skipFrom(we, long.tail, w.lim.HardLiteral)
	case errors.Is(err, ErrSyntax):
		// A literal the bad line announces is skipped with it, never run
		// as commands.
		we := &wireError{Tag: tag, Err: ErrSyntax, Msg: err.Error()}
		return w.skipFrom(we, lastLine(cmd.Raw), w.lim.HardLiteral)
	}
	return err // I/O
}

// lastLine returns the end of raw from its last line on, at most 64 bytes:
// enough to hold a literal announcement.
func lastLine(raw []byte) []byte {
	if len(raw) > 64 {
		raw = raw[len(raw)-64:]
	}
	return raw
}

// skipFrom discards the rest of a refused command, given the end of the
// line last read: the literals it announces and the lines after them,
// within budget bytes.
func (w *wireReader) skipFrom(we *wireError, tail []byte, budget int64) error {
	lit := literalSuffix(tail)
	if lit == nil || lit.Sync {
		// A client waits for a continuation it never gets.
		return we
	}
	return w.skipLiteral(we, lit.Size, budget)
}

func (w *wireReader) skipLiteral(we *wireError, size, budget int64) error {
	if size > budget {
		we.Fatal = true
		return we
	}
	budget -= size
	if _, err := io.CopyN(io.Discard, w.r, size); err != nil {
		return err
	}
	tail, err := w.discardLine(&budget)
	if err != nil {
		return err
	}
	if budget < 0 {
		we.Fatal = true
		return we
	}
	return w.skipFrom(we, tail, budget)
}

// discardLine reads to the next LF, keeping only the tail that may hold a
// literal announcement. It stops early once budget is spent.
func (w *wireReader) discardLine(budget *int64) ([]byte, error) {
	var tail []byte
	for {
		chunk, err := w.r.ReadSlice('\n')
		*budget -= int64(len(chunk))
		tail = append(tail, chunk...)
		if len(tail) > 64 {
			tail = append(tail[:0], tail[len(tail)-64:]...)
		}
		switch {
		case err == nil:
			return tail, nil
		case !errors.Is(err, bufio.ErrBufferFull):
			return nil, err
		case *budget < 0:
			return nil, nil
		}
	}
}

// readLine appends one line, up to CRLF, to dst and returns it with CRLF.
func (w *wireReader) readLine(dst []byte) ([]byte, error) {
	start := len(dst)
	for {
		chunk, err := w.r.ReadSlice('\n')
		if len(dst)-start+len(chunk) > w.lim.MaxLine+2 {
			return nil, w.overlong(chunk, err)
		}
		dst = append(dst, chunk...)
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
	line := dst[start:]
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return dst, fmt.Errorf("%w: line not ended by CRLF", ErrSyntax)
	}
	if i := bytes.IndexByte(line, 0); i >= 0 {
		return dst, fmt.Errorf("%w: NUL in line", ErrSyntax)
	}
	return dst, nil
}

// overlong reads the rest of an overlong line and keeps its tail.
func (w *wireReader) overlong(chunk []byte, err error) error {
	tail := chunk
	if errors.Is(err, bufio.ErrBufferFull) {
		budget := w.lim.HardLiteral
		tail, err = w.discardLine(&budget)
		if budget < 0 {
			return &wireError{Tag: "*", Err: ErrLineTooLong, Msg: "line too long", Fatal: true}
		}
	}
	if err != nil {
		return err
	}
	if len(tail) > 64 {
		tail = tail[len(tail)-64:]
	}
	return &lineTooLong{tail: append([]byte(nil), tail...)}
}

// parseHead reads the tag and command name from the first line.
func (c *Command) parseHead() error {
	line := bytes.TrimRight(c.Raw, "\r\n")
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return fmt.Errorf("%w: no command name", ErrSyntax)
	}
	tag := line[:sp]
	for _, b := range tag {
		if !isTagChar(b) {
			return fmt.Errorf("%w: bad tag", ErrSyntax)
		}
	}
	c.Tag = string(tag)
	rest := line[sp+1:]
	end := bytes.IndexByte(rest, ' ')
	if end < 0 {
		end = len(rest)
	}
	name := rest[:end]
	if len(name) == 0 || len(name) > 32 {
		return fmt.Errorf("%w: bad command name", ErrSyntax)
	}
	for _, b := range name {
		if !(b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z') {
			return fmt.Errorf("%w: bad command name", ErrSyntax)
		}
	}
	c.Name = string(bytes.ToUpper(name))
	c.args = sp + 1 + end
	return nil
}

// isTagChar: any ATOM-CHAR but '+' (RFC 9051 tag).
func isTagChar(b byte) bool {
	return isAtomChar(b) && b != '+'
}

// isAtomChar: CHAR except atom-specials "(){ %*\"\\]" and CTL.
func isAtomChar(b byte) bool {
	if b <= 0x20 || b >= 0x7f {
		return false
	}
	switch b {
	case '(', ')', '{', '%', '*', '"', '\\', ']':
		return false
	}
	return true
}

// parseLiteralHead looks at the line of raw that starts at lineStart (the
// last one read, CRLF included) and reports the literal it announces, if any.
// Quoted strings are followed so that "{5}" inside quotes is not a literal.
func parseLiteralHead(raw []byte, lineStart int) (*literal, error) {
	line := raw[lineStart:]
	quoted := false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		}
	}
	if quoted {
		return nil, fmt.Errorf("%w: unterminated quoted string", ErrSyntax)
	}
	if !bytes.HasSuffix(line, []byte("}\r\n")) {
		return nil, nil
	}
	lit := literalSuffix(line)
	if lit == nil {
		return nil, nil // '}' is an atom character; the grammar decides later
	}
	lit.Marker += lineStart
	lit.Start = len(raw)
	return lit, nil
}

// literalSuffix parses a literal announcement ("{12}", "{12+}", "~{12}") at
// the end of a CRLF-ended line; Marker is relative to line.
func literalSuffix(line []byte) *literal {
	line, ok := bytes.CutSuffix(line, []byte("}\r\n"))
	if !ok {
		return nil
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return nil
	}
	lit := &literal{Marker: open, Sync: true}
	digits := line[open+1:]
	if n := len(digits); n > 0 && digits[n-1] == '+' {
		lit.Sync = false
		digits = digits[:n-1]
	}
	if open > 0 && line[open-1] == '~' {
		lit.Binary = true
		lit.Marker--
	}
	if len(digits) == 0 || len(digits) > 18 {
		return nil
	}
	for _, d := range digits {
		if d < '0' || d > '9' {
			return nil
		}
	}
	size, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		return nil
	}
	lit.Size = size
	return lit
}

// Discard skips a refused command's pending literal and the rest of the
// command. A synchronizing literal was never asked for, so there is nothing
// to skip. It returns an error when the connection cannot go on.
func (w *wireReader) Discard(cmd *Command) error {
	lit := cmd.Pending
	cmd.Pending = nil
	if lit == nil || lit.Sync {
		return nil
	}
	we := &wireError{Tag: cmd.Tag, Err: ErrLiteralTooBig}
	err := w.skipLiteral(we, lit.Size, w.lim.HardLiteral)
	if err == we && !we.Fatal {
		return nil
	}
	return err
}
