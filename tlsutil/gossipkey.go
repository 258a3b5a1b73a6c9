package tlsutil

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
)

// GossipKeyFile is the gossip key's name in a CA directory; `rookery tls
// init` writes it next to the CA and the operator copies it to every node.
const GossipKeyFile = "gossip.key"

// minGossipSecret is the shortest passphrase GossipKey derives a key from.
const minGossipSecret = 16

// InitGossipKey writes a new random 32-byte memberlist key, base64-encoded,
// to path with mode 0600. It refuses to replace an existing file: nodes
// with different keys cannot gossip with each other.
func InitGossipKey(path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%w: %s", ErrExists, path)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	return writeFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600)
}

// GossipKey reads the key file at path and returns memberlist's 32-byte
// SecretKey (AES-256). A file holding 32 bytes in base64 (what
// InitGossipKey writes) is the key itself; any other content of at least 16
// characters is a passphrase the key is derived from with SHA-256.
func GossipKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := strings.TrimSpace(string(data))
	if key, err := base64.StdEncoding.DecodeString(s); err == nil && len(key) == 32 {
		return key, nil
	}
	if len(s) < minGossipSecret {
		return nil, fmt.Errorf("%w: %s holds %d characters, want a base64 32-byte key or a passphrase of at least %d",
			ErrBadGossipKey, path, len(s), minGossipSecret)
	}
	sum := sha256.Sum256([]byte("rookery gossip key\x00" + s))
	return sum[:], nil
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
