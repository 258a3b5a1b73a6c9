package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestValidHashRefuses(t *testing.T) {
	const (
		bcryptBody = "$qA2f0TCNdHFGBaPO6Qv6Lei5xAxyjzR3y1JMUTHbLB4d6WgHGBtxK"
		argonTail  = "$c29tZXNhbHRzYWx0$e5C7PwUWlf7VleEuyEUOwSS7VQ0aSSosswrlwZs7Lb4"
	)
	for _, c := range []struct {
		name, hash string
		want       error
	}{
		{"empty", "", ErrUnknownScheme},
		{"plain text", "secret", ErrUnknownScheme},
		{"DES crypt", "abJnggxhB/yWI", ErrUnknownScheme},
		{"MD5-crypt", "$1$NkRXMBJT$TGQ1TxAFQlBx98DCwjgkQ1", ErrUnknownScheme},
		{"yescrypt", "$y$j9T$EdOVDiwTg3lQu55uPIb3h.$/bwrHv0iOVeNJGC9NVZ4.02odx4tL1lHqaOSvTU73j8", ErrUnknownScheme},
		{"{PLAIN}", "{PLAIN}secret", ErrUnknownScheme},
		{"{SSHA512}", "{SSHA512}c2VjcmV0", ErrUnknownScheme},
		{"{MD5-CRYPT}", "{MD5-CRYPT}$1$NkRXMBJT$TGQ1TxAFQlBx98DCwjgkQ1", ErrUnknownScheme},
		{"unterminated scheme", "{SHA512-CRYPT$6$abc$def", ErrMalformedHash},
		{"too long", "$6$" + strings.Repeat("a", maxHashLen), ErrMalformedHash},

		{"bcrypt $2x$", "$2x$05" + bcryptBody, ErrUnknownScheme},
		{"bcrypt $2$", "$2$05" + bcryptBody, ErrUnknownScheme},
		{"bcrypt short", "$2b$05" + bcryptBody[:len(bcryptBody)-1], ErrMalformedHash},
		{"bcrypt long", "$2b$05" + bcryptBody + "K", ErrMalformedHash},
		{"bcrypt one-digit cost", "$2b$5" + bcryptBody + "K", ErrMalformedHash},
		{"bcrypt cost 03", "$2b$03" + bcryptBody, ErrMalformedHash},
		{"bcrypt cost 32", "$2b$32" + bcryptBody, ErrMalformedHash},
		{"bcrypt bad character", "$2b$05" + strings.Replace(bcryptBody, "q", "+", 1), ErrMalformedHash},
		{"bcrypt cost above bound", "$2b$15" + bcryptBody, ErrHashTooCostly},
		{"bcrypt cost 31", "$2y$31" + bcryptBody, ErrHashTooCostly},

		{"argon2d", "$argon2d$v=19$m=1024,t=2,p=1" + argonTail, ErrUnknownScheme},
		{"argon2 version 16", "$argon2id$v=16$m=1024,t=2,p=1" + argonTail, ErrUnknownScheme},
		{"argon2 without version", "$argon2i$m=1024,t=2,p=1" + argonTail, ErrUnknownScheme},
		{"argon2 parameters out of order", "$argon2id$v=19$t=2,m=1024,p=1" + argonTail, ErrMalformedHash},
		{"argon2 extra parameter", "$argon2id$v=19$m=1024,t=2,p=1,keyid=x" + argonTail, ErrMalformedHash},
		{"argon2 t=0", "$argon2id$v=19$m=1024,t=0,p=1" + argonTail, ErrMalformedHash},
		{"argon2 p=0", "$argon2id$v=19$m=1024,t=2,p=0" + argonTail, ErrMalformedHash},
		{"argon2 m below 8p", "$argon2id$v=19$m=31,t=2,p=4" + argonTail, ErrMalformedHash},
		{"argon2 negative", "$argon2id$v=19$m=-1,t=2,p=1" + argonTail, ErrMalformedHash},
		{"argon2 huge number", "$argon2id$v=19$m=99999999999999999999999,t=2,p=1" + argonTail, ErrMalformedHash},
		{"argon2 short salt", "$argon2id$v=19$m=1024,t=2,p=1$c2FsdA$e5C7PwUWlf7VleEuyEUOwSS7VQ0aSSosswrlwZs7Lb4", ErrMalformedHash},
		{"argon2 short hash", "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHRzYWx0$e5C7", ErrMalformedHash},
		{"argon2 padded base64", "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHRzYWx0$e5C7PwUWlf7VleEuyEUOwSS7VQ0aSSosswrlwZs7Lb4=", ErrMalformedHash},
		{"argon2 missing hash", "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHRzYWx0", ErrMalformedHash},
		{"argon2 memory above bound", "$argon2id$v=19$m=1048576,t=1,p=1" + argonTail, ErrHashTooCostly},
		{"argon2 time above bound", "$argon2id$v=19$m=1024,t=17,p=1" + argonTail, ErrHashTooCostly},
		{"argon2 threads above bound", "$argon2id$v=19$m=1024,t=1,p=17" + argonTail, ErrHashTooCostly},
		{"argon2 memory times time above bound", "$argon2id$v=19$m=262144,t=5,p=1" + argonTail, ErrHashTooCostly},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := ValidHash(c.hash)
			if !errors.Is(err, c.want) {
				t.Fatalf("ValidHash(%q) = %v, want %v", c.hash, err, c.want)
			}
			if CheckPassword(c.hash, "secret") {
				t.Fatal("matched")
			}
		})
	}
}

// The bounds themselves are accepted, so that the limits are what the
// constants say.
func TestValidHashAcceptsBounds(t *testing.T) {
	for _, h := range []string{
		"$2b$14$qA2f0TCNdHFGBaPO6Qv6Lei5xAxyjzR3y1JMUTHbLB4d6WgHGBtxK",
		"$argon2id$v=19$m=262144,t=4,p=16$c29tZXNhbHRzYWx0$e5C7PwUWlf7VleEuyEUOwSS7VQ0aSSosswrlwZs7Lb4",
		"$argon2i$v=19$m=65536,t=16,p=1$c29tZXNhbHRzYWx0$e5C7PwUWlf7VleEuyEUOwSS7VQ0aSSosswrlwZs7Lb4",
		"$6$rounds=1000000$saltstring$" + strings.Repeat("/", 86),
	} {
		if err := ValidHash(h); err != nil {
			t.Errorf("ValidHash(%s): %v", h, err)
		}
	}
}

// A password beyond its scheme's bound never matches, even with the hash
// of exactly that password; bcrypt's bound is 72 bytes.
func TestBcryptPasswordBound(t *testing.T) {
	pw := strings.Repeat("b", MaxPasswordLen)
	h, err := HashPasswordCost(pw, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !CheckPassword(h, pw) {
		t.Fatal("72 bytes refused")
	}
	if CheckPassword(h, pw+"b") {
		t.Fatal("73 bytes accepted")
	}
}
