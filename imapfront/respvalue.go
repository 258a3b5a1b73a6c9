package imapfront

import (
	"bytes"
	"fmt"
	"strconv"
)

// Reading inside backend responses, for the few the frontend must
// understand (the FETCH data and ESEARCH of SORT and THREAD): atoms and
// numbers, NIL, quoted strings, literals and parenthesised lists. A
// response is read whole, CRLFs and literal data included, as
// backendConn.collect hands it over.

type respKind int

const (
	respAtom respKind = iota // also a number, or a FETCH item name with its section
	respString
	respNil
	respList
)

// respValue is one value of a response.
type respValue struct {
	kind respKind
	text string // an atom's or a string's contents
	list []respValue
	raw  []byte // the value as it was sent
}

// str is a string value's contents; NIL and a list are "".
func (v respValue) str() string {
	if v.kind == respString || v.kind == respAtom {
		return v.text
	}
	return ""
}

type respReader struct {
	b   []byte
	pos int
}

func (r *respReader) fail(what string) error {
	return fmt.Errorf("%w: %s at byte %d of %q", ErrBackendProtocol, what, r.pos, r.b[:min(len(r.b), 200)])
}

// skipSpaces passes the spaces between values.
func (r *respReader) skipSpaces() {
	for r.pos < len(r.b) && r.b[r.pos] == ' ' {
		r.pos++
	}
}

func (r *respReader) value() (respValue, error) {
	r.skipSpaces()
	if r.pos >= len(r.b) {
		return respValue{}, r.fail("value missing")
	}
	start := r.pos
	var v respValue
	var err error
	switch r.b[r.pos] {
	case '(':
		v, err = r.listValue()
	case '"':
		v, err = r.quoted()
	case '{', '~':
		v, err = r.literal()
	default:
		v, err = r.atom()
	}
	if err != nil {
		return respValue{}, err
	}
	v.raw = r.b[start:r.pos]
	return v, nil
}

func (r *respReader) listValue() (respValue, error) {
	r.pos++ // (
	v := respValue{kind: respList}
	for {
		r.skipSpaces()
		if r.pos >= len(r.b) {
			return v, r.fail("list not closed")
		}
		if r.b[r.pos] == ')' {
			r.pos++
			return v, nil
		}
		item, err := r.value()
		if err != nil {
			return v, err
		}
		v.list = append(v.list, item)
	}
}

func (r *respReader) quoted() (respValue, error) {
	var b []byte
	for i := r.pos + 1; i < len(r.b); i++ {
		switch c := r.b[i]; c {
		case '\\':
			i++
			if i < len(r.b) {
				b = append(b, r.b[i])
			}
		case '"':
			r.pos = i + 1
			return respValue{kind: respString, text: string(b)}, nil
		case '\r', '\n':
			return respValue{}, r.fail("line break in a quoted string")
		default:
			b = append(b, c)
		}
	}
	return respValue{}, r.fail("quoted string not closed")
}

// literal reads {n}CRLF and n bytes (or literal8, ~{n}).
func (r *respReader) literal() (respValue, error) {
	i := r.pos
	if r.b[i] == '~' {
		i++
	}
	end := bytes.Index(r.b[i:], []byte("}\r\n"))
	if r.b[i] != '{' || end < 0 {
		return respValue{}, r.fail("bad literal")
	}
	n, err := strconv.Atoi(string(r.b[i+1 : i+end]))
	data := i + end + 3
	if err != nil || n < 0 || data+n > len(r.b) {
		return respValue{}, r.fail("bad literal size")
	}
	r.pos = data + n
	return respValue{kind: respString, text: string(r.b[data:r.pos])}, nil
}

// atom reads up to a space, parenthesis or line end; a bracketed part, as
// in BODY[HEADER.FIELDS (A B)], is kept whole with its spaces.
func (r *respReader) atom() (respValue, error) {
	start := r.pos
	for r.pos < len(r.b) {
		c := r.b[r.pos]
		if c == '[' {
			end := bytes.IndexByte(r.b[r.pos:], ']')
			if end < 0 {
				return respValue{}, r.fail("section not closed")
			}
			r.pos += end + 1
			continue
		}
		if c == ' ' || c == '(' || c == ')' || c == '\r' || c == '\n' {
			break
		}
		r.pos++
	}
	if r.pos == start {
		return respValue{}, r.fail("unexpected character")
	}
	text := string(r.b[start:r.pos])
	if equalFoldASCII(text, "NIL") {
		return respValue{kind: respNil}, nil
	}
	return respValue{kind: respAtom, text: text}, nil
}

// fetchResponse is one "* n FETCH (...)" response: the message's number
// and its data items by upper-cased name.
type fetchResponse struct {
	seq   uint32
	items map[string]respValue
}

// parseFetch reads resp if it is a FETCH response; ok is false for any
// other response.
func parseFetch(resp []byte) (f fetchResponse, ok bool, err error) {
	rest, found := bytes.CutPrefix(resp, []byte("* "))
	if !found {
		return f, false, nil
	}
	n, word, found := numbered(rest)
	if !found || !equalFoldASCII(string(word), "FETCH") || n == 0 {
		return f, false, nil
	}
	r := &respReader{b: rest, pos: bytes.IndexByte(rest, ' ') + 1 + len("FETCH")}
	v, err := r.value()
	if err != nil {
		return f, true, err
	}
	if v.kind != respList || len(v.list)%2 != 0 {
		return f, true, r.fail("FETCH data is not a list of pairs")
	}
	f = fetchResponse{seq: uint32(n), items: make(map[string]respValue, len(v.list)/2)}
	for i := 0; i < len(v.list); i += 2 {
		if v.list[i].kind != respAtom {
			return f, true, r.fail("FETCH item name")
		}
		f.items[string(bytes.ToUpper([]byte(v.list[i].text)))] = v.list[i+1]
	}
	return f, true, nil
}

// item returns the data item whose name starts with prefix (a section's
// name as the server spells it may vary).
func (f fetchResponse) item(prefix string) (respValue, bool) {
	if v, ok := f.items[prefix]; ok {
		return v, true
	}
	for k, v := range f.items {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix {
			return v, true
		}
	}
	return respValue{}, false
}
