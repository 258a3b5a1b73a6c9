package auth

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// SHA-crypt, as Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512"
// specifies it (glibc's and libxcrypt's $5$ and $6$):
//
//	$6$[rounds=N$]<salt>$<hash>
//
// The salt is at most 16 bytes; N defaults to 5000. crypt(3) prints its
// output in a canonical form (rounds clamped to [1000, 999999999] and
// printed in decimal when it was given, salt cut to 16 bytes), and a check
// compares that output with the stored string. A stored string in any other
// form could therefore never match, and is refused as malformed.
type shaCryptHash struct {
	v           *shaVariant
	rounds      int
	roundsGiven bool
	salt        string
	sum         string // the encoded digest
}

// shaVariant is what tells SHA-256-crypt and SHA-512-crypt apart.
type shaVariant struct {
	prefix  string
	newHash func() hash.Hash
	size    int
	// order lists the digest's bytes in the order the output encodes them,
	// three at a time, most significant first.
	order []int
}

const (
	shaCryptDefaultRounds = 5000
	shaCryptMinRounds     = 1000
	shaCryptMaxSalt       = 16
	// cryptAlphabet is crypt(3)'s base64 alphabet (not bcrypt's order).
	cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

var (
	sha256Crypt = &shaVariant{
		prefix: "$5$", newHash: sha256.New, size: sha256.Size,
		order: []int{
			0, 10, 20, 21, 1, 11, 12, 22, 2, 3, 13, 23, 24, 4, 14,
			15, 25, 5, 6, 16, 26, 27, 7, 17, 18, 28, 8, 9, 19, 29,
			31, 30, // the last two bytes make 3 characters
		},
	}
	sha512Crypt = &shaVariant{
		prefix: "$6$", newHash: sha512.New, size: sha512.Size,
		order: []int{
			0, 21, 42, 22, 43, 1, 44, 2, 23, 3, 24, 45, 25, 46, 4,
			47, 5, 26, 6, 27, 48, 28, 49, 7, 50, 8, 29, 9, 30, 51,
			31, 52, 10, 53, 11, 32, 12, 33, 54, 34, 55, 13, 56, 14, 35,
			15, 36, 57, 37, 58, 16, 59, 17, 38, 18, 39, 60, 40, 61, 19,
			62, 20, 41,
			63, // the last byte makes 2 characters
		},
	}
)

// encodedLen is the length of the encoded digest: 43 or 86 characters.
func (v *shaVariant) encodedLen() int { return (v.size*8 + 5) / 6 }

func parseSHACrypt(h string, f form) (storedHash, error) {
	s := &shaCryptHash{v: sha256Crypt, rounds: shaCryptDefaultRounds}
	if f == formSHA512Crypt {
		s.v = sha512Crypt
	}
	rest := h[len(s.v.prefix):]
	if r, ok := strings.CutPrefix(rest, "rounds="); ok {
		num, after, found := strings.Cut(r, "$")
		n, okNum := parseDecimal(num)
		if !found || !okNum {
			return nil, fmt.Errorf("%w: SHA-crypt rounds %q", ErrMalformedHash, num)
		}
		if n < shaCryptMinRounds {
			return nil, fmt.Errorf("%w: SHA-crypt rounds %d below %d", ErrMalformedHash, n, shaCryptMinRounds)
		}
		if n > MaxSHACryptRounds {
			return nil, fmt.Errorf("%w: SHA-crypt rounds %d is above %d", ErrHashTooCostly, n, MaxSHACryptRounds)
		}
		s.rounds, s.roundsGiven, rest = int(n), true, after
	}
	salt, sum, found := strings.Cut(rest, "$")
	switch {
	case !found:
		return nil, fmt.Errorf("%w: SHA-crypt: no $ after the salt", ErrMalformedHash)
	case len(salt) > shaCryptMaxSalt:
		return nil, fmt.Errorf("%w: SHA-crypt salt longer than %d bytes", ErrMalformedHash, shaCryptMaxSalt)
	case strings.ContainsAny(salt, ":\n\x00"):
		return nil, fmt.Errorf("%w: SHA-crypt salt holds ':', a newline or NUL", ErrMalformedHash)
	case len(sum) != s.v.encodedLen() || !inAlphabet(sum, cryptAlphabet):
		return nil, fmt.Errorf("%w: SHA-crypt hash is not %d characters of crypt's base64", ErrMalformedHash, s.v.encodedLen())
	}
	s.salt, s.sum = salt, sum
	return s, nil
}

func (s *shaCryptHash) maxPassword() int {
	return min(MaxLongPasswordLen, MaxSHACryptWork/s.rounds)
}

func (s *shaCryptHash) matches(pw []byte) bool {
	got := s.v.encode(s.v.digest(pw, []byte(s.salt), s.rounds))
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.sum)) == 1
}

// String is the hash in crypt(3)'s canonical form.
func (s *shaCryptHash) String() string {
	var b strings.Builder
	b.WriteString(s.v.prefix)
	if s.roundsGiven {
		b.WriteString("rounds=" + strconv.Itoa(s.rounds) + "$")
	}
	b.WriteString(s.salt + "$" + s.sum)
	return b.String()
}

// digest is the specification's algorithm; the comments number its steps.
func (v *shaVariant) digest(pw, salt []byte, rounds int) []byte {
	// Steps 4-8: digest B of password, salt, password.
	d := v.newHash()
	d.Write(pw)
	d.Write(salt)
	d.Write(pw)
	b := d.Sum(nil)

	// Steps 1-3, 9-12: digest A.
	d.Reset()
	d.Write(pw)
	d.Write(salt)
	writeRepeated(d, b, len(pw))
	for n := len(pw); n > 0; n >>= 1 {
		if n&1 != 0 {
			d.Write(b)
		} else {
			d.Write(pw)
		}
	}
	a := d.Sum(nil)

	// Steps 13-16: P, from digest DP of the password once per byte of it.
	d.Reset()
	for range len(pw) {
		d.Write(pw)
	}
	p := repeatTo(d.Sum(nil), len(pw))

	// Steps 17-20: S, from digest DS of the salt 16+A[0] times.
	d.Reset()
	for range 16 + int(a[0]) {
		d.Write(salt)
	}
	s := repeatTo(d.Sum(nil), len(salt))

	// Step 21: the rounds, each over the previous digest C (A at first).
	c := a
	for i := range rounds {
		d.Reset()
		if i&1 != 0 {
			d.Write(p)
		} else {
			d.Write(c)
		}
		if i%3 != 0 {
			d.Write(s)
		}
		if i%7 != 0 {
			d.Write(p)
		}
		if i&1 != 0 {
			d.Write(c)
		} else {
			d.Write(p)
		}
		c = d.Sum(c[:0])
	}
	return c
}

// writeRepeated writes n bytes to d: sum as many times as it fits, then the
// start of it.
func writeRepeated(d hash.Hash, sum []byte, n int) {
	for ; n > len(sum); n -= len(sum) {
		d.Write(sum)
	}
	d.Write(sum[:n])
}

// repeatTo is sum repeated, cut to n bytes (steps 16 and 20).
func repeatTo(sum []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out)+len(sum) <= n {
		out = append(out, sum...)
	}
	return append(out, sum[:n-len(out)]...)
}

// encode is step 22: the digest's bytes in v.order, three at a time as a
// 24-bit number written low six bits first.
func (v *shaVariant) encode(sum []byte) string {
	out := make([]byte, 0, v.encodedLen())
	for i := 0; i < len(v.order); i += 3 {
		var w uint32
		n := 4
		switch left := len(v.order) - i; {
		case left >= 3:
			w = uint32(sum[v.order[i]])<<16 | uint32(sum[v.order[i+1]])<<8 | uint32(sum[v.order[i+2]])
		case left == 2:
			w, n = uint32(sum[v.order[i]])<<8|uint32(sum[v.order[i+1]]), 3
		default:
			w, n = uint32(sum[v.order[i]]), 2
		}
		for range n {
			out = append(out, cryptAlphabet[w&0x3f])
			w >>= 6
		}
	}
	return string(out)
}
