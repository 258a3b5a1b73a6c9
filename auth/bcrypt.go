package auth

import (
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// bcryptHash is "$2b$" (or $2a$, $2y$), a two-digit cost, "$", then 22
// characters of salt and 31 of hash in bcrypt's base64 alphabet. The three
// versions compute the same function on every password this package
// accepts; $2x$, the one that differs, is not accepted.
type bcryptHash struct {
	hash string
}

const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func parseBcrypt(h string) (storedHash, error) {
	const size = 60
	if len(h) != size || h[6] != '$' {
		return nil, fmt.Errorf("%w: bcrypt: not $2b$NN$ and 53 characters", ErrMalformedHash)
	}
	cost, ok := parseTwoDigits(h[4:6])
	if !ok || cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("%w: bcrypt: cost %q", ErrMalformedHash, h[4:6])
	}
	if cost > MaxBcryptCost {
		return nil, fmt.Errorf("%w: bcrypt cost %d is above %d", ErrHashTooCostly, cost, MaxBcryptCost)
	}
	if !inAlphabet(h[7:], bcryptAlphabet) {
		return nil, fmt.Errorf("%w: bcrypt: a character outside its alphabet", ErrMalformedHash)
	}
	return &bcryptHash{hash: h}, nil
}

// parseTwoDigits reads bcrypt's cost, which is always printed with two
// digits ("05").
func parseTwoDigits(s string) (int, bool) {
	if s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

func (h *bcryptHash) maxPassword() int { return MaxPasswordLen }

// matches leaves the comparison to bcrypt, which compares in constant time.
func (h *bcryptHash) matches(pw []byte) bool {
	return bcrypt.CompareHashAndPassword([]byte(h.hash), pw) == nil
}
