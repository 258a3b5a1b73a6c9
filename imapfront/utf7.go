package imapfront

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Modified UTF-7 (RFC 3501 section 5.1.3) is how IMAP4rev1 clients that have
// not enabled UTF8=ACCEPT spell non-ASCII mailbox names: printable ASCII
// stands for itself except '&', which starts a base64 run (with ',' for '/')
// of UTF-16BE ended by '-'; "&-" is a literal '&'.

const utf7Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"

var utf7Value = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(utf7Alphabet); i++ {
		t[utf7Alphabet[i]] = int8(i)
	}
	return t
}()

// decodeUTF7 decodes a modified UTF-7 name strictly: anything an encoder
// would not have produced (8-bit bytes, controls, an unterminated or empty
// run, two runs back to back, an encoded printable ASCII character, nonzero
// padding bits, an unpaired surrogate) is ErrInvalidUTF7, so that one name
// has one spelling.
func decodeUTF7(s string) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	afterRun := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", ErrInvalidUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			afterRun = false
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", ErrInvalidUTF7
		}
		run := s[i+1 : i+1+end]
		i += end + 1
		if run == "" {
			b.WriteByte('&')
			afterRun = false
			continue
		}
		if afterRun {
			return "", ErrInvalidUTF7
		}
		if err := decodeUTF7Run(&b, run); err != nil {
			return "", err
		}
		afterRun = true
	}
	return b.String(), nil
}

func decodeUTF7Run(b *strings.Builder, run string) error {
	var units []uint16
	var acc uint32
	bits := 0
	for i := 0; i < len(run); i++ {
		v := utf7Value[run[i]]
		if v < 0 {
			return ErrInvalidUTF7
		}
		acc = acc<<6 | uint32(v)
		bits += 6
		if bits >= 16 {
			bits -= 16
			units = append(units, uint16(acc>>bits))
			acc &= 1<<bits - 1
		}
	}
	// Leftover bits are padding: fewer than 6 of them, all zero.
	if bits >= 6 || acc != 0 || len(units) == 0 {
		return ErrInvalidUTF7
	}
	for i := 0; i < len(units); i++ {
		u := units[i]
		var r rune
		switch {
		case utf16.IsSurrogate(rune(u)):
			if u >= 0xdc00 || i+1 == len(units) {
				return ErrInvalidUTF7
			}
			r = utf16.DecodeRune(rune(u), rune(units[i+1]))
			if r == utf8.RuneError {
				return ErrInvalidUTF7
			}
			i++
		case u >= 0x20 && u <= 0x7e:
			return ErrInvalidUTF7 // printable ASCII must be sent directly
		default:
			r = rune(u)
		}
		b.WriteRune(r)
	}
	return nil
}

// encodeUTF7 encodes a UTF-8 name in modified UTF-7. Invalid UTF-8 bytes
// are encoded as U+FFFD.
func encodeUTF7(s string) string {
	if plainASCII(s) {
		return s // most names: nothing to encode, nothing to allocate
	}
	var b strings.Builder
	b.Grow(len(s) + len(s)/2)
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c <= 0x7e {
			if c == '&' {
				b.WriteString("&-")
			} else {
				b.WriteByte(c)
			}
			i++
			continue
		}
		j := i
		for j < len(s) && (s[j] < 0x20 || s[j] > 0x7e) {
			_, size := utf8.DecodeRuneInString(s[j:])
			j += size
		}
		b.WriteByte('&')
		encodeUTF7Run(&b, s[i:j])
		b.WriteByte('-')
		i = j
	}
	return b.String()
}

func encodeUTF7Run(b *strings.Builder, s string) {
	var acc uint32
	bits := 0
	for _, r := range s {
		for _, u := range utf16.AppendRune(nil, r) {
			acc = acc<<16 | uint32(u)
			bits += 16
			for bits >= 6 {
				bits -= 6
				b.WriteByte(utf7Alphabet[acc>>bits&0x3f])
			}
			acc &= 1<<bits - 1
		}
	}
	if bits > 0 {
		b.WriteByte(utf7Alphabet[acc<<(6-bits)&0x3f])
	}
}

// plainASCII says whether s is printable ASCII without '&', which modified
// UTF-7 spells as itself.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '&' {
			return false
		}
	}
	return true
}
