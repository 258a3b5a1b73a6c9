package imapfront

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// casemapKey prepares s for the i;unicode-casemap collation (RFC 5051),
// which RFC 5256 section 7 requires of SORT and THREAD: each character is
// replaced by its titlecase form, that by its full decomposition, and the
// results compare as octets. On ASCII it is i;ascii-casemap (a-z read as
// A-Z). Bytes that are not UTF-8 stay as they are (RFC 5051 compares what
// cannot be read as Unicode as octets).
func casemapKey(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return upperASCII(s)
	}
	b := make([]byte, 0, len(s)+len(s)/2)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			b = append(b, upperByte(c))
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, c)
			i++
			continue
		}
		i += size
		b = appendDecomposed(b, unicode.ToTitle(r))
	}
	return string(b)
}

// appendDecomposed appends r's full (compatibility) decomposition, which
// is what RFC 5051's repeated use of UnicodeData's decomposition mappings
// comes to. Hangul syllables have no such mapping (NFKD decomposes them by
// algorithm), so they stay whole.
func appendDecomposed(b []byte, r rune) []byte {
	if r >= 0xAC00 && r <= 0xD7A3 {
		return utf8.AppendRune(b, r)
	}
	var one [utf8.UTFMax]byte
	n := utf8.EncodeRune(one[:], r)
	return norm.NFKD.Append(b, one[:n]...)
}

func upperASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'a' <= s[i] && s[i] <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = upperByte(b[j])
			}
			return string(b)
		}
	}
	return s
}

func upperByte(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}
