package bench

import (
	"fmt"
	"math/rand"
	"strings"
	"time"
)

// Credential is one account the benches log in as.
type Credential struct {
	User     string `json:"user"`
	Password string `json:"-"`
}

// filler is printable text in CRLF lines of 78 bytes, made once per load
// generator so building a message costs a copy, not a random number each
// byte.
func filler(rng *rand.Rand, n int) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyz      "
	b := make([]byte, 0, n+80)
	for len(b) < n {
		for range 76 {
			b = append(b, alphabet[rng.Intn(len(alphabet))])
		}
		b = append(b, '\r', '\n')
	}
	return b
}

// message builds an RFC 5322 message of exactly size bytes (or its headers
// alone when size is smaller) with the given Message-Id (without brackets).
func message(msgID, to string, size int, fill []byte) []byte {
	var h strings.Builder
	fmt.Fprintf(&h, "From: Rookery bench <bench@bench.invalid>\r\n")
	fmt.Fprintf(&h, "To: <%s>\r\n", to)
	fmt.Fprintf(&h, "Subject: bench %s\r\n", msgID)
	fmt.Fprintf(&h, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
	fmt.Fprintf(&h, "Message-Id: <%s>\r\n", msgID)
	fmt.Fprintf(&h, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
	b := make([]byte, 0, max(size, h.Len()+2))
	b = append(b, h.String()...)
	body := size - len(b) - 2
	for body > 0 {
		n := min(body, len(fill))
		b = append(b, fill[:n]...)
		body -= n
	}
	// A cut through a line must not leave a bare CR; ending on CRLF keeps
	// the message whole through LMTP's dot-stuffing.
	if b[len(b)-1] == '\r' {
		b[len(b)-1] = 'x'
	}
	return append(b, '\r', '\n')
}
