// Package auth holds the project's password hashing and the check of the
// cluster credential that frontends use to log in to backends for a user.
package auth

import (
	"crypto/subtle"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// ProxyUser is the SASL authentication id with which a frontend logs in to a
// backend to act for a user. No user can have this name: user names may not
// contain '$' (see fsm.CanonicalUser).
const ProxyUser = "$proxy"

// MaxPasswordLen bounds a password. bcrypt itself reads only 72 bytes; a
// longer password is refused rather than silently cut.
const MaxPasswordLen = 72

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

// CheckPassword reports whether pw matches hash. An unknown hash scheme
// never matches.
func CheckPassword(hash, pw string) bool {
	if pw == "" || len(pw) > MaxPasswordLen {
		return false
	}
	if !strings.HasPrefix(hash, "$2") {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// CheckSecret compares the cluster secret with what a peer presented, in
// constant time. An empty secret never matches.
func CheckSecret(secret, given string) bool {
	if secret == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(secret), []byte(given)) == 1
}
