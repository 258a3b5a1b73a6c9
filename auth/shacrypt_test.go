package auth

import (
	"errors"
	"strings"
	"testing"
)

// specVectors are the test vectors of Drepper's "Unix crypt using SHA-256
// and SHA-512": the setting crypt(3) was given and the output it must
// print. The last ones ask for rounds=10, which the specification clamps to
// 1000; the output, which is what a site stores, says rounds=1000.
var specVectors = []struct {
	setting, pw, want string
}{
	{"$5$saltstring", "Hello world!",
		"$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"},
	{"$5$rounds=10000$saltstringsaltstring", "Hello world!",
		"$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA"},
	{"$5$rounds=5000$toolongsaltstring", "This is just a test",
		"$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5"},
	{"$5$rounds=1400$anotherlongsaltstring", "a very much longer text to encrypt.  This one even stretches over morethan one line.",
		"$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1"},
	{"$5$rounds=77777$short", "we have a short salt string but not a short password",
		"$5$rounds=77777$short$JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/"},
	{"$5$rounds=123456$asaltof16chars..", "a short string",
		"$5$rounds=123456$asaltof16chars..$gP3VQ/6X7UUEW3HkBn2w1/Ptq2jxPyzV/cZKmF/wJvD"},
	{"$5$rounds=10$roundstoolow", "the minimum number is still observed",
		"$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC"},

	{"$6$saltstring", "Hello world!",
		"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
	{"$6$rounds=10000$saltstringsaltstring", "Hello world!",
		"$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
	{"$6$rounds=5000$toolongsaltstring", "This is just a test",
		"$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0"},
	{"$6$rounds=1400$anotherlongsaltstring", "a very much longer text to encrypt.  This one even stretches over morethan one line.",
		"$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1"},
	{"$6$rounds=77777$short", "we have a short salt string but not a short password",
		"$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0"},
	{"$6$rounds=123456$asaltof16chars..", "a short string",
		"$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1"},
	{"$6$rounds=10$roundstoolow", "the minimum number is still observed",
		"$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX."},
}

// The outputs are what a site stores, so each must check as it is.
func TestSHACryptSpecVectors(t *testing.T) {
	for _, v := range specVectors {
		if err := ValidHash(v.want); err != nil {
			t.Errorf("ValidHash(%s): %v", v.want, err)
			continue
		}
		if !CheckPassword(v.want, v.pw) {
			t.Errorf("%s: the right password was refused", v.want)
		}
		for _, wrong := range wrongPasswords(v.pw) {
			if CheckPassword(v.want, wrong) {
				t.Errorf("%s: wrong password %q accepted", v.want, wrong)
			}
		}
	}
}

// The settings themselves, as crypt(3) reads them (rounds clamped, salt
// cut to 16 bytes), give the specification's outputs: this tests the
// algorithm apart from the parser.
func TestSHACryptSpecSettings(t *testing.T) {
	for _, v := range specVectors {
		if got := cryptSetting(t, v.setting, v.pw); got != v.want {
			t.Errorf("crypt(%q, %q)\n got %s\nwant %s", v.pw, v.setting, got, v.want)
		}
	}
}

// cryptSetting is crypt(3) for a SHA-crypt setting, as the specification
// reads one; the package itself only checks stored hashes.
func cryptSetting(t *testing.T, setting, pw string) string {
	t.Helper()
	v := sha256Crypt
	if strings.HasPrefix(setting, sha512Crypt.prefix) {
		v = sha512Crypt
	}
	s := &shaCryptHash{v: v, rounds: shaCryptDefaultRounds}
	rest := setting[len(v.prefix):]
	if r, ok := strings.CutPrefix(rest, "rounds="); ok {
		num, after, _ := strings.Cut(r, "$")
		n, ok := parseDecimal(num)
		if !ok {
			t.Fatalf("setting %q", setting)
		}
		s.rounds, s.roundsGiven, rest = max(int(n), shaCryptMinRounds), true, after
	}
	s.salt, _, _ = strings.Cut(rest, "$")
	s.salt = s.salt[:min(len(s.salt), shaCryptMaxSalt)]
	s.sum = v.encode(v.digest([]byte(pw), []byte(s.salt), s.rounds))
	return s.String()
}

// Passwords longer than bcrypt's limit are checked in full up to
// MaxLongPasswordLen, and up to MaxSHACryptWork/rounds, and refused beyond.
// No tool here hashes a password of 1024 bytes (libxcrypt stops at 511,
// openssl cuts at 256), so these hashes come from the implementation that
// the vectors above test.
func TestSHACryptPasswordBound(t *testing.T) {
	for _, v := range []*shaVariant{sha256Crypt, sha512Crypt} {
		for _, n := range []int{MaxLongPasswordLen, MaxLongPasswordLen + 1} {
			pw := alphabetPassword(n)
			h := cryptSetting(t, v.prefix+"bound", pw)
			want := n <= MaxLongPasswordLen
			if got := CheckPassword(h, pw); got != want {
				t.Errorf("%s password of %d bytes: CheckPassword = %v, want %v", v.prefix, n, got, want)
			}
		}
	}
	// At many rounds the bound is lower; checking it end to end would cost
	// seconds, so this asks the parsed hash.
	for _, c := range []struct {
		rounds string
		want   int
	}{
		{"5000", MaxLongPasswordLen},
		{"125000", MaxLongPasswordLen},
		{"400000", 320},
		{"1000000", 128},
	} {
		h, err := parseHash("$6$rounds=" + c.rounds + "$bound$" + strings.Repeat(".", 86))
		if err != nil {
			t.Fatal(err)
		}
		if got := h.maxPassword(); got != c.want {
			t.Errorf("rounds=%s: longest password %d, want %d", c.rounds, got, c.want)
		}
	}
}

func TestSHACryptCanonicalForm(t *testing.T) {
	const sum = "$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"
	for _, c := range []struct {
		hash string
		want error
	}{
		{"$5$saltstring" + sum, nil},
		{"$5$rounds=5000$saltstring" + sum, nil},
		{"$5$rounds=1000$saltstring" + sum, nil},
		{"$5$rounds=999$saltstring" + sum, ErrMalformedHash},
		{"$5$rounds=05000$saltstring" + sum, ErrMalformedHash},
		{"$5$rounds=+5000$saltstring" + sum, ErrMalformedHash},
		{"$5$rounds=$saltstring" + sum, ErrMalformedHash},
		{"$5$rounds=5000saltstring" + sum, ErrMalformedHash},
		{"$5$rounds=99999999999999999999999$saltstring" + sum, ErrMalformedHash},
		{"$5$rounds=1000000$saltstring" + sum, nil},
		{"$5$rounds=1000001$saltstring" + sum, ErrHashTooCostly},
		{"$5$rounds=999999999$saltstring" + sum, ErrHashTooCostly},
		{"$5$saltstringsaltstring" + sum, ErrMalformedHash},
		{"$5$salt:string" + sum, ErrMalformedHash},
		{"$5$saltstring", ErrMalformedHash},
		{"$5$saltstring" + sum + "x", ErrMalformedHash},
		{"$5$saltstring" + sum[:len(sum)-1], ErrMalformedHash},
		{"$5$saltstring" + sum[:len(sum)-1] + "=", ErrMalformedHash},
	} {
		if err := ValidHash(c.hash); !errors.Is(err, c.want) || (err == nil) != (c.want == nil) {
			t.Errorf("ValidHash(%s) = %v, want %v", c.hash, err, c.want)
		}
	}
}
