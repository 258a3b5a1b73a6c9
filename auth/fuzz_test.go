package auth

import (
	"strings"
	"testing"
)

// FuzzCheckPassword: no hash, however malformed, makes the check panic; a
// hash ValidHash refuses never matches; a SHA-crypt hash that parses is in
// crypt(3)'s canonical form. Inputs are cut so that the fuzzer spends its
// time in the parser rather than in hashing.
func FuzzCheckPassword(f *testing.F) {
	for _, v := range knownVectors {
		f.Add(v.hash, v.pw)
	}
	for _, v := range specVectors {
		f.Add(v.want, v.pw)
	}
	for _, h := range []string{
		"", "{", "{}", "{CRYPT}", "{CRYPT}$", "$", "$2b$", "$5$", "$6$rounds=", "$6$rounds=1000",
		"$argon2id$", "$argon2id$v=19$m=,t=,p=$$", "$argon2i$v=19$m=8,t=1,p=1$$",
	} {
		f.Add(h, "pw")
	}
	f.Fuzz(func(t *testing.T, hash, pw string) {
		if len(pw) > 2*MaxLongPasswordLen {
			pw = pw[:2*MaxLongPasswordLen]
		}
		parsed, err := parseHash(hash)
		if err != nil {
			if CheckPassword(hash, pw) {
				t.Fatalf("ValidHash refused %q (%v) but it matched", hash, err)
			}
			return
		}
		if s, ok := parsed.(*shaCryptHash); ok {
			if _, body, _ := strings.Cut(hash, "}"); !strings.HasSuffix(hash, s.String()) || (strings.HasPrefix(hash, "{") && body != s.String()) {
				t.Fatalf("%q parsed as %q", hash, s.String())
			}
		}
		if cheap(parsed) {
			CheckPassword(hash, pw)
		}
	})
}

// cheap tells whether a check of h takes milliseconds, not seconds.
func cheap(h storedHash) bool {
	switch h := h.(type) {
	case *bcryptHash:
		return h.hash[4:6] <= "05"
	case *argon2Hash:
		return h.memory*h.time <= 4096
	case *shaCryptHash:
		return h.rounds <= shaCryptDefaultRounds
	}
	return false
}
