// Package auth holds the project's password hashing and the check of the
// cluster credential that frontends use to log in to backends for a user.
//
// New hashes are bcrypt. Imported hashes are checked as they are: bcrypt,
// argon2id and argon2i in PHC form, SHA-crypt ($5$ and $6$), each also with
// Dovecot's {SCHEME} prefix. The work a stored hash may demand is bounded
// (see the Max constants), so that a hostile record cannot stall a frontend.
package auth

import (
	"crypto/subtle"

	"golang.org/x/crypto/bcrypt"
)

// ProxyUser is the SASL authentication id with which a frontend logs in to a
// backend to act for a user. No user can have this name: user names may not
// contain '$' (see fsm.CanonicalUser).
const ProxyUser = "$proxy"

// MaxPasswordLen bounds a password checked against, or hashed with, bcrypt.
// bcrypt itself reads only 72 bytes; a longer password is refused rather
// than silently cut.
const MaxPasswordLen = 72

// MaxLongPasswordLen bounds a password for the schemes that read all of it
// (argon2, SHA-crypt). SHA-crypt bounds it further: see MaxSHACryptWork.
const MaxLongPasswordLen = 1024

// Bounds on the work one check of a stored hash may demand. A hash above
// them is refused by ValidHash and never matches.
const (
	MaxBcryptCost = 14 // about a second on a current core

	MaxArgon2MemoryKiB = 256 * 1024 // libsodium's "moderate" limit
	MaxArgon2Time      = 16
	MaxArgon2Threads   = 16
	// MaxArgon2Work bounds memory times passes, in KiB: 64 MiB with 16
	// passes or 256 MiB with 4.
	MaxArgon2Work = 1 << 20

	// crypt(3)'s default is 5,000 rounds; passlib's, which some mail
	// admin tools wrote, 656,000.
	MaxSHACryptRounds = 1_000_000
	// MaxSHACryptWork bounds rounds times the password's length: each
	// round hashes the password twice, and the client chooses its length.
	// A longer password never matches: 128 bytes at a million rounds, the
	// whole MaxLongPasswordLen up to 125,000.
	MaxSHACryptWork = 128_000_000
)

// maxHashLen bounds a stored hash as a whole; the largest bounded argon2
// hash is far shorter.
const maxHashLen = 1024

// DefaultCost is the bcrypt cost for new hashes.
var DefaultCost = bcrypt.DefaultCost

// HashPassword returns a bcrypt hash of pw in its usual "$2a$..." form.
func HashPassword(pw string) (string, error) {
	return HashPasswordCost(pw, DefaultCost)
}

// HashPasswordCost is HashPassword with an explicit bcrypt cost; tests and
// benchmarks use bcrypt.MinCost so logins do not dominate what they measure.
func HashPasswordCost(pw string, cost int) (string, error) {
	if pw == "" {
		return "", ErrEmptyPassword
	}
	if len(pw) > MaxPasswordLen {
		return "", ErrPasswordTooLong
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// CheckPassword reports whether pw matches hash. An unknown scheme, a
// malformed hash, a hash above the work bounds and a password longer than
// its scheme takes never match.
func CheckPassword(hash, pw string) bool {
	if pw == "" {
		return false
	}
	h, err := parseHash(hash)
	if err != nil || len(pw) > h.maxPassword() {
		return false
	}
	return h.matches([]byte(pw))
}

// ValidHash reports whether h is a supported hash in a well-formed and
// bounded form, and if not, why: the error wraps ErrUnknownScheme,
// ErrMalformedHash or ErrHashTooCostly. An import refuses a record that
// ValidHash refuses, since it could never match.
func ValidHash(h string) error {
	_, err := parseHash(h)
	return err
}

// CheckSecret compares the cluster secret with what a peer presented, in
// constant time. An empty secret never matches.
func CheckSecret(secret, given string) bool {
	if secret == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(secret), []byte(given)) == 1
}
