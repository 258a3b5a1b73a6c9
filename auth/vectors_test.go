package auth

import (
	"strings"
	"testing"
)

// knownVectors were made by real tools (named in each entry) on Debian 12,
// except the specification's own, which come from the text of Drepper's
// "Unix crypt using SHA-256 and SHA-512" and agree with glibc's crypt(3).
var knownVectors = []struct {
	tool, hash, pw string
}{
	// bcrypt
	{"mkpasswd -m bcrypt", "$2b$05$qA2f0TCNdHFGBaPO6Qv6Lei5xAxyjzR3y1JMUTHbLB4d6WgHGBtxK", "mkpasswd bcrypt"},
	{"mkpasswd -m bcrypt-a -R 6", "$2a$06$SAJflOq8wq9UNyZ8BS0Y/emisMwZxnR5pQEyPRbWTABFYFizN7isq", "mkpasswd bcrypt-a"},
	{"python3 crypt, bcrypt, UTF-8", "$2b$04$KcfZEaMLXdSmmxAskQtZveRQZvLfukhAv.N/pO3ZlYHNFbfQ8phyy", "pässwörd ☃ 密码"},
	{"doveadm pw -s BLF-CRYPT", "{BLF-CRYPT}$2y$05$acHtF9zdgu7EKBQZbkRQxeW/ai1gTU5d09e8kcgVIiOaZHxZSPDHO", "dovecot pw"},
	{"doveadm pw -s BLF-CRYPT -r 10", "{BLF-CRYPT}$2y$10$34ugwXAvVmR6fCY1sPEHh.6mq2K0jajWD5N62vPnM6R3s/gS0Ynly", "cost ten"},
	{"doveadm pw -s CRYPT", "{CRYPT}$2y$05$xd5h3wCxySC6AJ762WBXY..Ret2brXPC6WS.eDlftGb1Pkh.Dhxwu", "dovecot pw"},

	// argon2
	{"argon2 -id -t 2 -k 65536 -p 1", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHRzYWx0$e5C7PwUWlf7VleEuyEUOwSS7VQ0aSSosswrlwZs7Lb4", "argon2 cli id"},
	{"argon2 -i -t 3 -k 4096 -p 2 -l 16", "$argon2i$v=19$m=4096,t=3,p=2$YW5vdGhlcnNhbHQ$xiaREdtpwSqeL/SgS/UQjQ", "argon2 cli i"},
	{"argon2 -id -p 4 -l 64, 116 bytes", "$argon2id$v=19$m=8192,t=1,p=4$bG9uZ3Bhc3N3b3Jkc2FsdA$Ra31HalS4ygkIhrrbUQu/Z+x8dgogv6Z+CnYYFH4RjNzMLM0DSQMFGRhEieSxV9E6VbMP9Ctz5vXCHLsbH6OXg", longPassword},
	{"argon2 -id, UTF-8", "$argon2id$v=19$m=1024,t=1,p=1$dXRmOHNhbHRzYWx0$AlxVCAxLis+rK1lZGDCBdO2Iq51kYQr/o8iPa5QiKg4", "pässwörd ☃ 密码"},
	{"doveadm pw -s ARGON2ID", "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$fTrhKOx750NI7bDpw/1PAQ$bBfznNY2UBhJzYRpdN5FjMmPdeBVpg0pFTcL9gTPq+U", "dovecot pw"},
	{"doveadm pw -s ARGON2I", "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$lIrG0g74WfGVDIeVORu8Qg$bm/6bPdmKtVWGiEXd2JnNqlGNihA7KnSc71JwIgVsHY", "dovecot pw"},

	// SHA-512-crypt
	{"mkpasswd -m sha512crypt", "$6$5/TImEUCsO9hU.r1$0E4UpTjQ2QCiG0LwFa9rfhe2rc5GmVccbQLOL.jYgmxY/vzoqO1w8HfwzPIZG0tPWcS0x0gSVcDCUtaCLAPWH0", "mkpasswd sha512"},
	{"mkpasswd -m sha512crypt -R 10000", "$6$rounds=10000$2vtDUdnfSPk8cxh7$5IXkULEiy4rZtBr8CvXLbdfMHwDn4gyCYQk.Zad2nLCbz3ymVdwIG.W10FKNP6o.hwn88IIAd41BLHnOqOV8L1", "mkpasswd sha512 rounds"},
	{"python3 crypt, SHA-512, 116 bytes", "$6$UpX/iTi3exNVFRjC$eEoiKFp0igW5pQZVWO3zWJzs0S/15pXV4zSDCMwRC.Er/AmDYZC4yYO5MHwDPhbMph31YwQ8BDSq55ffI5xno0", longPassword},
	{"python3 crypt, SHA-512, UTF-8", "$6$0D7tj/rJjjd.De/2$mwR/R7V1VmO8.sLXQ9tuCHq4p7N0SNtnuLMzQldLpZ42xiSxIj13qOhnhT4b7Ha1wRzYSh3rsGd/kcq09qBEG.", "pässwörd ☃ 密码"},
	{"python3 crypt, SHA-512, 511 bytes", "$6$k511$d414vl0nVjjIIzB1h5ejSHOOxI5ljshGhPZXNuSWHp90FfG6//idYy0x4VRgslGsqUlrVoI24Dusynoq6zA3M0", alphabetPassword(511)},
	{"python3 crypt, SHA-512, empty salt", "$6$$KvRrc0bxRLyTUhO8OJOmRczh7oCol5BACiR8rmdfVzvuGgm8JmLDumsL/ah.jFtT.DswxoP9Nv3ByfU4j5hm/0", "x"},
	{"openssl passwd -6", "$6$openssl$Z4Az2is4vjnz1VJM181Or/qyp9BlVhltXrIhJVoFNyT.brLQqNfrCgJJ/iKEruC5t1ZBWFDVW9gsxXYO00TvS.", "openssl sha512"},
	{"doveadm pw -s SHA512-CRYPT", "{SHA512-CRYPT}$6$wsSY7pvawUKtonvM$cFXrvJN8GUold5laIM8b45WvIWDt6aONE3j0sumfpuvXOJ0nGLX.2NhbD.IlhWTAdlbd8T5BA1mCgvr16ODdx.", "dovecot pw"},
	{"doveadm pw -s SHA512-CRYPT -r 20000", "{SHA512-CRYPT}$6$rounds=20000$B6zMK.l2U5vF5.tx$t0nSv.yZlqqYJAg99lXXETUgUjtNJR6xcpX2Jf/nMNHoT90qI6wtbrpmX35zzcjB3Iew7VTlZ6BSKucyWV99S/", "rounds pw"},
	{"{CRYPT} before mkpasswd -m sha512crypt", "{CRYPT}$6$5/TImEUCsO9hU.r1$0E4UpTjQ2QCiG0LwFa9rfhe2rc5GmVccbQLOL.jYgmxY/vzoqO1w8HfwzPIZG0tPWcS0x0gSVcDCUtaCLAPWH0", "mkpasswd sha512"},

	// SHA-256-crypt
	{"mkpasswd -m sha256crypt", "$5$I/B44m44NsRiyGPz$8bJ2thwxRsu9s9WILIsNdWc6kORlJXTOWUhZnPIsBv1", "mkpasswd sha256"},
	{"mkpasswd -m sha256crypt -R 1000", "$5$rounds=1000$5yFedkqpT/DWwxzf$4lbVQh1.zFxOVXJwdx6OcfcyEZhje5o2yJTrCOpTMo1", "mkpasswd sha256 rounds"},
	{"python3 crypt, SHA-256, 116 bytes", "$5$Z7eiF8RQT.NeCVLY$aQ7ssS1PuQgGMPykap21VEbOgw3OtO7rytneIlY8z47", longPassword},
	{"python3 crypt, SHA-256, UTF-8", "$5$94n6ObFOhnfH6h12$u1QJHYiXRsOqk3hjO2p/CEQACKcABVTQEGjEpATwux9", "pässwörd ☃ 密码"},
	{"python3 crypt, SHA-256, 511 bytes", "$5$k511$K6u5kMmI.8BzK/FhHbwzplK7OimipR/n6C3xu2gVI31", alphabetPassword(511)},
	{"doveadm pw -s SHA256-CRYPT", "{SHA256-CRYPT}$5$vMfRDwGxPh3y393x$tpsycVXwRBRyV84N8.UuZyUv34ao.lAHnV0.ZyiP4N7", "dovecot pw"},
	{"{crypt} in lower case", "{crypt}$5$I/B44m44NsRiyGPz$8bJ2thwxRsu9s9WILIsNdWc6kORlJXTOWUhZnPIsBv1", "mkpasswd sha256"},
}

// longPassword is longer than bcrypt's 72 bytes (116).
var longPassword = strings.Repeat("correct horse battery staple ", 4)

// alphabetPassword is "abc...zabc..." of n bytes.
func alphabetPassword(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return string(b)
}

func TestKnownVectors(t *testing.T) {
	for _, v := range knownVectors {
		t.Run(v.tool, func(t *testing.T) {
			if err := ValidHash(v.hash); err != nil {
				t.Fatalf("ValidHash: %v", err)
			}
			if !CheckPassword(v.hash, v.pw) {
				t.Fatal("the right password was refused")
			}
			for _, wrong := range wrongPasswords(v.pw) {
				if CheckPassword(v.hash, wrong) {
					t.Fatalf("wrong password %q accepted", wrong)
				}
			}
		})
	}
}

// wrongPasswords are near misses of pw.
func wrongPasswords(pw string) []string {
	var out []string
	for _, w := range []string{"", pw + "x", pw[:len(pw)-1], "x" + pw[1:], pw + "\x00"} {
		if w != pw {
			out = append(out, w)
		}
	}
	return out
}

// A {SCHEME} prefix must name the form that follows it.
func TestSchemePrefixMustMatchForm(t *testing.T) {
	const sha512 = "$6$5/TImEUCsO9hU.r1$0E4UpTjQ2QCiG0LwFa9rfhe2rc5GmVccbQLOL.jYgmxY/vzoqO1w8HfwzPIZG0tPWcS0x0gSVcDCUtaCLAPWH0"
	const bcryptH = "$2b$05$qA2f0TCNdHFGBaPO6Qv6Lei5xAxyjzR3y1JMUTHbLB4d6WgHGBtxK"
	const argon = "$argon2id$v=19$m=1024,t=1,p=1$dXRmOHNhbHRzYWx0$AlxVCAxLis+rK1lZGDCBdO2Iq51kYQr/o8iPa5QiKg4"
	for _, c := range []struct{ hash, pw string }{
		{"{SHA256-CRYPT}" + sha512, "mkpasswd sha512"},
		{"{BLF-CRYPT}" + sha512, "mkpasswd sha512"},
		{"{SHA512-CRYPT}" + bcryptH, "mkpasswd bcrypt"},
		{"{ARGON2I}" + argon, "pässwörd ☃ 密码"},
		{"{CRYPT}" + argon, "pässwörd ☃ 密码"},
	} {
		if CheckPassword(c.hash, c.pw) {
			t.Errorf("%s matched", c.hash)
		}
		if err := ValidHash(c.hash); err == nil {
			t.Errorf("ValidHash(%s) = nil", c.hash)
		}
	}
}
