package imapfront

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The frontend checks the grammar of SEARCH criteria and of APPEND's
// date-time before it relays the command: the backend's IMAP library
// answers an unknown search key, a date it cannot parse or a key of an
// extension it lacks (SAVEDBEFORE) with NO [SERVERBUG], which
// tells the client the server is broken. Here they are BAD, as RFC 3501
// section 6.4.4 asks ("unknown search key"), and nothing reaches a
// backend. The keys are those of RFC 3501 and 9051 that the backends
// implement, and RFC 5032's, which the frontend answers (within.go).

// searchKeyArgs is what follows each search key: a for an astring, d a
// date, n a number, z a number not 0, f a flag, s a sequence set, k a
// search key.
var searchKeyArgs = map[string]string{
	"ALL": "", "ANSWERED": "", "DELETED": "", "DRAFT": "", "FLAGGED": "",
	"RECENT": "", "SEEN": "", "NEW": "", "OLD": "",
	"UNANSWERED": "", "UNDELETED": "", "UNDRAFT": "", "UNFLAGGED": "", "UNSEEN": "",
	"KEYWORD": "f", "UNKEYWORD": "f",
	"BCC": "a", "CC": "a", "FROM": "a", "SUBJECT": "a", "TO": "a", "BODY": "a", "TEXT": "a",
	"HEADER": "aa",
	"SINCE":  "d", "BEFORE": "d", "ON": "d", "SENTSINCE": "d", "SENTBEFORE": "d", "SENTON": "d",
	"LARGER": "n", "SMALLER": "n",
	"UID": "s",
	"NOT": "k", "OR": "kk",
	"OLDER": "z", "YOUNGER": "z", // RFC 5032, answered by the frontend (within.go)
}

// checkSearch checks a SEARCH command's arguments (after UID, if any);
// a.within has its WITHIN keys after.
func checkSearch(a *argReader) error {
	first, err := a.searchToken()
	if err != nil {
		return err
	}
	if strings.EqualFold(first.text, "RETURN") && first.kind == tokAtom {
		// The options' names are the backend's to check: they are
		// answered BAD there already.
		at := a.pos
		opts, err := a.list(false)
		if err != nil {
			return err
		}
		a.returnOpts = &textEdit{from: at + 1, to: a.pos, text: strings.ToUpper(strings.Join(opts, " "))}
		if first, err = a.searchToken(); err != nil {
			return err
		}
	}
	if strings.EqualFold(first.text, "CHARSET") && first.kind == tokAtom {
		if _, err := a.astring(); err != nil {
			return err
		}
		if first, err = a.searchToken(); err != nil {
			return err
		}
	}
	return a.searchKeys(first)
}

// searchKeys checks the search keys from first, already read, to the end
// of the command.
func (a *argReader) searchKeys(first searchTok) error {
	for t := first; ; {
		if err := a.searchKey(t, 0); err != nil {
			return err
		}
		if a.peekEnd() {
			return nil
		}
		var err error
		if t, err = a.searchToken(); err != nil {
			return err
		}
	}
}

// maxSearchDepth bounds the nesting of NOT, OR and parentheses.
const maxSearchDepth = 64

type searchTok struct {
	kind tokenKind
	text string
	at   int // offset in the command of its first byte
}

// searchToken reads one token after its space.
func (a *argReader) searchToken() (searchTok, error) {
	if !a.sp() {
		return searchTok{}, fmt.Errorf("%w: expected a search key", ErrNoArgument)
	}
	at := a.pos
	k, s, err := a.next()
	return searchTok{k, s, at}, err
}

func (a *argReader) peekEnd() bool { return a.pos >= a.end }

// searchKey checks one search key that begins with t.
func (a *argReader) searchKey(t searchTok, depth int) error {
	if depth > maxSearchDepth {
		return fmt.Errorf("%w: search keys nested too deep", ErrSyntax)
	}
	switch t.kind {
	case tokOpen:
		for i := 0; ; i++ {
			if a.peek() == tokClose && i > 0 {
				a.pos++
				return nil
			}
			if i > 0 && !a.sp() {
				return fmt.Errorf("%w: expected a space between search keys", ErrSyntax)
			}
			at := a.pos
			k, s, err := a.next()
			if err != nil {
				return err
			}
			if err := a.searchKey(searchTok{k, s, at}, depth+1); err != nil {
				return err
			}
		}
	case tokAtom:
	default:
		return fmt.Errorf("%w: expected a search key", ErrSyntax)
	}
	key := strings.ToUpper(t.text)
	if key == "MODSEQ" && a.condstore {
		return a.modseqKey(t)
	}
	if (key == "SAVEDBEFORE" || key == "SAVEDON" || key == "SAVEDSINCE") && a.condstore {
		v, err := a.searchToken()
		if err != nil {
			return err
		}
		day, derr := time.Parse("2-Jan-2006", v.text)
		if derr != nil || v.kind != tokAtom && v.kind != tokString {
			return fmt.Errorf("%w: %s: invalid date %q", ErrSyntax, key, v.text)
		}
		a.spoolKeys = append(a.spoolKeys, spoolKey{from: t.at, to: a.pos, kind: key, day: day})
		return nil
	}
	if key == "SAVEDATESUPPORTED" && a.condstore {
		a.spoolKeys = append(a.spoolKeys, spoolKey{from: t.at, to: a.pos, kind: key})
		return nil
	}
	if (key == "EMAILID" || key == "THREADID") && a.condstore {
		v, err := a.searchToken()
		if err != nil {
			return err
		}
		if v.kind != tokAtom || !isObjectID(v.text) {
			return fmt.Errorf("%w: %s: invalid object id %q", ErrSyntax, key, v.text)
		}
		a.spoolKeys = append(a.spoolKeys, spoolKey{from: t.at, to: a.pos, kind: key, id: v.text})
		return nil
	}
	args, known := searchKeyArgs[key]
	if !known {
		if key == "$" || isSeqSet(key) {
			return nil
		}
		return fmt.Errorf("%w: unknown search key %s", ErrSyntax, t.text)
	}
	for _, arg := range args {
		if arg == 'k' {
			next, err := a.searchToken()
			if err != nil {
				return err
			}
			if err := a.searchKey(next, depth+1); err != nil {
				return err
			}
			continue
		}
		v, err := a.searchToken()
		if err != nil {
			return err
		}
		if err := checkSearchArg(arg, v); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrSyntax, key, err)
		}
		if arg == 'z' {
			n, _ := strconv.ParseUint(v.text, 10, 32)
			a.within = append(a.within, withinKey{from: t.at, to: a.pos, older: key == "OLDER", secs: n})
		}
	}
	return nil
}

func checkSearchArg(arg rune, v searchTok) error {
	if v.kind != tokAtom && v.kind != tokString {
		return fmt.Errorf("expected an argument")
	}
	switch arg {
	case 'd':
		if _, err := time.Parse("2-Jan-2006", v.text); err != nil {
			return fmt.Errorf("invalid date %q", v.text)
		}
	case 'n':
		if _, err := strconv.ParseUint(v.text, 10, 63); err != nil || v.kind != tokAtom {
			return fmt.Errorf("invalid number %q", v.text)
		}
	case 'z':
		if n, err := strconv.ParseUint(v.text, 10, 32); err != nil || n == 0 || v.kind != tokAtom {
			return fmt.Errorf("invalid interval %q", v.text)
		}
	case 's':
		if v.kind != tokAtom || v.text != "$" && !isSeqSet(v.text) {
			return fmt.Errorf("invalid set %q", v.text)
		}
	case 'f':
		if v.kind != tokAtom {
			return fmt.Errorf("invalid flag")
		}
	}
	return nil
}

// isSeqSet reports whether s is a sequence set: numbers or * in ranges
// and lists (RFC 3501 section 9, sequence-set).
func isSeqSet(s string) bool {
	for _, r := range strings.Split(s, ",") {
		ends := strings.Split(r, ":")
		if len(ends) > 2 {
			return false
		}
		for _, e := range ends {
			if e == "*" {
				continue
			}
			if n, err := strconv.ParseUint(e, 10, 32); err != nil || n == 0 {
				return false
			}
		}
	}
	return true
}

// appendDateTimeLayout is APPEND's date-time (RFC 3501 section 9), as
// the backends read it.
const appendDateTimeLayout = "_2-Jan-2006 15:04:05 -0700"

// checkAppendDate checks APPEND's optional flag list and date-time, after
// the mailbox; a reads up to the message literal.
func checkAppendDate(a *argReader) error {
	_, _, err := appendOptions(a)
	return err
}

// modseqKey reads the arguments of the MODSEQ search key t (RFC 7162
// section 3.1.5): an optional metadata entry and its type, which Rookery
// takes as the message's modseq (it keeps one per message, as the RFC
// allows), and the mod-sequence.
func (a *argReader) modseqKey(t searchTok) error {
	v, err := a.searchToken()
	if err != nil {
		return err
	}
	if v.kind == tokString {
		if !strings.HasPrefix(strings.ToLower(v.text), "/flags/") {
			return fmt.Errorf("%w: MODSEQ: unknown entry %q", ErrSyntax, v.text)
		}
		typ, err := a.searchToken()
		if err != nil {
			return err
		}
		if typ.kind != tokAtom || !slices.Contains([]string{"priv", "shared", "all"}, strings.ToLower(typ.text)) {
			return fmt.Errorf("%w: MODSEQ: entry type must be priv, shared or all", ErrSyntax)
		}
		if v, err = a.searchToken(); err != nil {
			return err
		}
	}
	n, err := strconv.ParseUint(v.text, 10, 63)
	if err != nil || v.kind != tokAtom {
		return fmt.Errorf("%w: MODSEQ: invalid mod-sequence %q", ErrSyntax, v.text)
	}
	a.spoolKeys = append(a.spoolKeys, spoolKey{from: t.at, to: a.pos, modseq: n})
	return nil
}

// isObjectID reports whether s is an objectid (RFC 8474 section 7): 1 to
// 255 letters, digits, "_" and "-".
func isObjectID(s string) bool {
	if len(s) == 0 || len(s) > 255 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
