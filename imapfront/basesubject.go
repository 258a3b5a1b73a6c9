package imapfront

import (
	"mime"
	"strings"
)

// Base subject extraction, RFC 5256 section 2.1, which SORT (SUBJECT) and
// both THREAD algorithms use. The grammar (section 5):
//
//	subj-refwd   = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
//	subj-blob    = "[" *BLOBCHAR "]" *WSP
//	subj-leader  = (*subj-blob subj-refwd) / WSP
//	subj-trailer = "(fwd)" / WSP
//	subj-fwd     = "[fwd:" subject "]"
//
// Every literal in it is case-insensitive.

// baseSubject returns the base subject of a Subject as the envelope
// carries it (RFC 2047 encoded words allowed), and whether the message is
// a reply or forward: the extraction removed a subj-refwd, a "(fwd)"
// trailer or a "[fwd: ...]" wrapper (section 3, REFERENCES).
func baseSubject(subject string) (base string, reply bool) {
	s := spaced(decodeWords(subject))
	for {
		// (2) trailers, as often as they match.
		for {
			t := strings.TrimSuffix(s, " ")
			if n := len(t) - len("(fwd)"); n >= 0 && equalFoldASCII(t[n:], "(fwd)") {
				t, reply = t[:n], true
			}
			if t == s {
				break
			}
			s = t
		}
		// (3) leaders and (4) blobs, until neither matches (5).
		for {
			if strings.HasPrefix(s, " ") {
				s = s[1:]
				continue
			}
			if n := leaderLen(s); n > 0 {
				s, reply = s[n:], true
				continue
			}
			// A blob goes only if something is left after it.
			if n := blobLen(s); n > 0 && n < len(s) {
				s = s[n:]
				continue
			}
			break
		}
		// (6) "[fwd: ...]" around the rest: unwrap, and again from (2).
		if len(s) > len("[fwd:") && hasPrefixFold(s, "[fwd:") && s[len(s)-1] == ']' {
			s, reply = s[len("[fwd:"):len(s)-1], true
			continue
		}
		return s, reply
	}
}

// decodeWords is step (1)'s conversion of RFC 2047 encoded words to UTF-8.
// A word in a charset Go cannot read leaves the subject as it was.
func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	if d, err := new(mime.WordDecoder).DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// spaced is the rest of step (1): tabs and line breaks (of folded lines)
// become spaces, and every run of spaces one space.
func spaced(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteByte(c)
	}
	return b.String()
}

// leaderLen is the length of a leading *subj-blob subj-refwd, or 0.
// Greed is safe: a blob starts with "[", a subj-refwd with a letter.
func leaderLen(s string) int {
	i := 0
	for {
		n := blobLen(s[i:])
		if n == 0 {
			break
		}
		i += n
	}
	if n := refwdLen(s[i:]); n > 0 {
		return i + n
	}
	return 0
}

// refwdLen is the length of a leading subj-refwd, or 0.
func refwdLen(s string) int {
	var i int
	switch {
	case hasPrefixFold(s, "re"):
		i = 2
	case hasPrefixFold(s, "fwd"):
		i = 3
	case hasPrefixFold(s, "fw"):
		i = 2
	default:
		return 0
	}
	for i < len(s) && s[i] == ' ' {
		i++
	}
	i += blobLen(s[i:])
	if i < len(s) && s[i] == ':' {
		return i + 1
	}
	return 0
}

// blobLen is the length of a leading subj-blob with the spaces after it,
// or 0.
func blobLen(s string) int {
	if !strings.HasPrefix(s, "[") {
		return 0
	}
	end := strings.IndexAny(s[1:], "[]")
	if end < 0 || s[1+end] != ']' {
		return 0
	}
	i := end + 2
	for i < len(s) && s[i] == ' ' {
		i++
	}
	return i
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && equalFoldASCII(s[:len(prefix)], prefix)
}

// equalFoldASCII compares ignoring the case of ASCII letters only: the
// grammar's literals are ASCII, and no other letter may stand for them.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if upperByte(a[i]) != upperByte(b[i]) {
			return false
		}
	}
	return true
}
