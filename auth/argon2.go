package auth

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// argon2Hash is the PHC string form that the reference implementation,
// libsodium and Dovecot write:
//
//	$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>
//
// with m in KiB and salt and hash in unpadded standard base64. Only version
// 19 (0x13) is supported: it is the only one x/crypto computes, and hashes
// of the older version 16 carry no "v=".
type argon2Hash struct {
	id      bool // argon2id, else argon2i
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	sum     []byte
}

// Sizes the reference implementation allows, bounded above here.
const (
	argon2MinSalt = 8
	argon2MaxSalt = 256
	argon2MinSum  = 4
	argon2MaxSum  = 256
)

func parseArgon2(h string, f form) (storedHash, error) {
	parts := strings.Split(h, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 {
		if len(parts) == 5 && strings.HasPrefix(parts[2], "m=") {
			return nil, fmt.Errorf("%w: argon2 version 16 (no v=)", ErrUnknownScheme)
		}
		return nil, fmt.Errorf("%w: argon2: not $%s$v=19$m=,t=,p=$salt$hash", ErrMalformedHash, parts[1])
	}
	if parts[2] != "v=19" {
		return nil, fmt.Errorf("%w: argon2 version %q", ErrUnknownScheme, parts[2])
	}
	a := &argon2Hash{id: f == formArgon2id}
	if err := a.parseParams(parts[3]); err != nil {
		return nil, err
	}
	var err error
	if a.salt, err = decodeArgon2Field(parts[4], argon2MinSalt, argon2MaxSalt); err != nil {
		return nil, fmt.Errorf("%w: argon2 salt: %v", ErrMalformedHash, err)
	}
	if a.sum, err = decodeArgon2Field(parts[5], argon2MinSum, argon2MaxSum); err != nil {
		return nil, fmt.Errorf("%w: argon2 hash: %v", ErrMalformedHash, err)
	}
	return a, nil
}

// parseParams reads "m=M,t=T,p=P" in that order, as the reference
// implementation does, and checks the bounds.
func (a *argon2Hash) parseParams(s string) error {
	kv := strings.Split(s, ",")
	if len(kv) != 3 {
		return fmt.Errorf("%w: argon2 parameters %q", ErrMalformedHash, s)
	}
	var vals [3]uint64
	for i, key := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(kv[i], key)
		n, okNum := parseDecimal(v)
		if !ok || !okNum {
			return fmt.Errorf("%w: argon2 parameters %q", ErrMalformedHash, s)
		}
		vals[i] = n
	}
	m, t, p := vals[0], vals[1], vals[2]
	if t < 1 || p < 1 || m < 8*p {
		return fmt.Errorf("%w: argon2 parameters %q (need t >= 1, p >= 1, m >= 8p)", ErrMalformedHash, s)
	}
	switch {
	case m > MaxArgon2MemoryKiB:
		return fmt.Errorf("%w: argon2 memory %d KiB is above %d", ErrHashTooCostly, m, MaxArgon2MemoryKiB)
	case t > MaxArgon2Time:
		return fmt.Errorf("%w: argon2 time %d is above %d", ErrHashTooCostly, t, MaxArgon2Time)
	case p > MaxArgon2Threads:
		return fmt.Errorf("%w: argon2 parallelism %d is above %d", ErrHashTooCostly, p, MaxArgon2Threads)
	case m*t > MaxArgon2Work:
		return fmt.Errorf("%w: argon2 memory %d KiB times time %d is above %d", ErrHashTooCostly, m, t, MaxArgon2Work)
	}
	a.memory, a.time, a.threads = uint32(m), uint32(t), uint8(p)
	return nil
}

func decodeArgon2Field(s string, minLen, maxLen int) ([]byte, error) {
	if base64.RawStdEncoding.DecodedLen(len(s)) > maxLen {
		return nil, fmt.Errorf("longer than %d bytes", maxLen)
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not unpadded base64")
	}
	if len(b) < minLen {
		return nil, fmt.Errorf("shorter than %d bytes", minLen)
	}
	return b, nil
}

func (a *argon2Hash) maxPassword() int { return MaxLongPasswordLen }

func (a *argon2Hash) matches(pw []byte) bool {
	var sum []byte
	if a.id {
		sum = argon2.IDKey(pw, a.salt, a.time, a.memory, a.threads, uint32(len(a.sum)))
	} else {
		sum = argon2.Key(pw, a.salt, a.time, a.memory, a.threads, uint32(len(a.sum)))
	}
	return subtle.ConstantTimeCompare(sum, a.sum) == 1
}
