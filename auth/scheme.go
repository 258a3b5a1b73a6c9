package auth

import (
	"fmt"
	"strings"
)

// storedHash is a parsed, bounded hash that a password can be checked
// against.
type storedHash interface {
	// matches reports whether pw is the password; the comparison of the
	// derived value is constant-time. pw is at most maxPassword bytes.
	matches(pw []byte) bool
	maxPassword() int
}

var (
	_ storedHash = (*bcryptHash)(nil)
	_ storedHash = (*argon2Hash)(nil)
	_ storedHash = (*shaCryptHash)(nil)
)

// form is the shape of a hash once any {SCHEME} prefix is taken off.
type form uint8

const (
	formBcrypt form = iota + 1
	formArgon2id
	formArgon2i
	formSHA256Crypt
	formSHA512Crypt
)

// dovecotSchemes names the forms each of Dovecot's {SCHEME} prefixes may
// carry. {CRYPT} is whatever crypt(3) reads, of which bcrypt and SHA-crypt
// are supported here. Dovecot looks schemes up regardless of case.
var dovecotSchemes = map[string][]form{
	"BLF-CRYPT":    {formBcrypt},
	"ARGON2ID":     {formArgon2id},
	"ARGON2I":      {formArgon2i},
	"SHA256-CRYPT": {formSHA256Crypt},
	"SHA512-CRYPT": {formSHA512Crypt},
	"CRYPT":        {formBcrypt, formSHA256Crypt, formSHA512Crypt},
}

// parseHash checks h's scheme, form and bounds.
func parseHash(h string) (storedHash, error) {
	if len(h) > maxHashLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformedHash, maxHashLen)
	}
	var allowed []form
	if strings.HasPrefix(h, "{") {
		end := strings.IndexByte(h, '}')
		if end < 0 {
			return nil, fmt.Errorf("%w: unterminated {scheme}", ErrMalformedHash)
		}
		scheme := strings.ToUpper(h[1:end])
		var ok bool
		if allowed, ok = dovecotSchemes[scheme]; !ok {
			return nil, fmt.Errorf("%w: %q", ErrUnknownScheme, h[:end+1])
		}
		h = h[end+1:]
	}
	f, err := formOf(h)
	if err != nil {
		return nil, err
	}
	if allowed != nil && !containsForm(allowed, f) {
		return nil, fmt.Errorf("%w: the {scheme} prefix does not name the hash that follows it", ErrMalformedHash)
	}
	switch f {
	case formBcrypt:
		return parseBcrypt(h)
	case formArgon2id, formArgon2i:
		return parseArgon2(h, f)
	default:
		return parseSHACrypt(h, f)
	}
}

// formOf tells the form from the hash's leading "$id$".
func formOf(h string) (form, error) {
	switch {
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		return formBcrypt, nil
	case strings.HasPrefix(h, "$argon2id$"):
		return formArgon2id, nil
	case strings.HasPrefix(h, "$argon2i$"):
		return formArgon2i, nil
	case strings.HasPrefix(h, "$5$"):
		return formSHA256Crypt, nil
	case strings.HasPrefix(h, "$6$"):
		return formSHA512Crypt, nil
	}
	id := h
	if len(id) > 16 {
		id = id[:16] + "..."
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownScheme, id)
}

func containsForm(fs []form, f form) bool {
	for _, g := range fs {
		if g == f {
			return true
		}
	}
	return false
}

// parseDecimal reads a canonical decimal number (no sign, no leading zero),
// as crypt(3) and the PHC format print them. Nineteen digits cannot
// overflow.
func parseDecimal(s string) (uint64, bool) {
	if s == "" || len(s) > 19 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// inAlphabet reports whether every byte of s is one of alphabet's.
func inAlphabet(s, alphabet string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(alphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}
