package imapfront

import "strings"

// Message IDs for THREAD=REFERENCES. RFC 5256 section 3 asks for every
// msg-id (RFC 2822 section 3.6.4) in a normal form, so that quoting does
// not split one id in two: <"a.b"@c> and <a.b@c> are the same. The form
// here is the id-left's text, "@", and the id-right's, with quotes,
// comments and folding white space taken out. Anything in a field that
// is not a msg-id (a phrase, "<>", a name after the id) is skipped.

// msgIDs returns the valid message ids in a header field's value, in
// order.
func msgIDs(v string) []string {
	var ids []string
	for i := 0; i < len(v); {
		switch v[i] {
		case '(':
			i += commentLen(v[i:])
		case '"':
			i += quotedLen(v[i:])
		case '<':
			if id, n := parseMsgID(v[i:]); n > 0 {
				ids = append(ids, id)
				i += n
				continue
			}
			i++
		default:
			i++
		}
	}
	return ids
}

// firstMsgID is the first valid message id in v, or "".
func firstMsgID(v string) string {
	if ids := msgIDs(v); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// parseMsgID reads the msg-id at the start of s ("<" then id-left "@"
// id-right ">") and returns its normal form and length; n is 0 when
// there is none.
func parseMsgID(s string) (id string, n int) {
	var left, right strings.Builder
	part := &left
	for i := 1; i < len(s); {
		c := s[i]
		switch {
		case c == '>':
			if part == &left || left.Len() == 0 || right.Len() == 0 {
				return "", 0
			}
			return left.String() + "@" + right.String(), i + 1
		case c == '@' && part == &left:
			part = &right
			i++
		case c == '"' && part == &left:
			q := quotedLen(s[i:])
			if q < 2 || s[i+q-1] != '"' {
				return "", 0
			}
			part.WriteString(unquote(s[i+1 : i+q-1]))
			i += q
		case c == '[' && part == &right:
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return "", 0
			}
			part.WriteString(s[i : i+end+1])
			i += end + 1
		case c == '(':
			i += commentLen(s[i:])
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case isIDChar(c):
			part.WriteByte(c)
			i++
		default:
			return "", 0
		}
	}
	return "", 0
}

// isIDChar: atext or "." (RFC 2822 dot-atom-text), and any 8-bit byte
// (RFC 6532 allows UTF-8 there).
func isIDChar(c byte) bool {
	if c >= 0x80 {
		return true
	}
	if c <= ' ' || c == 0x7f {
		return false
	}
	return !strings.ContainsRune(`()<>[]:;@\,"`, rune(c))
}

// commentLen is the length of the comment at the start of s, nested
// comments and quoted pairs included; an unclosed one runs to the end.
func commentLen(s string) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(s)
}

// quotedLen is the length of the quoted string at the start of s; an
// unclosed one runs to the end.
func quotedLen(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(s)
}

// unquote takes the backslashes of quoted pairs out of a quoted string's
// contents.
func unquote(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
