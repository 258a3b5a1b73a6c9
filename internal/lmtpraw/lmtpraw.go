// Package lmtpraw speaks LMTP by hand for tests, where a real client
// would not misbehave: a BDAT chunk cut off by a client that goes away.
package lmtpraw

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// CutOffBDAT sends one transaction to rcpt whose BDAT LAST announces body
// and carries only its first n bytes, half-closes the connection, and
// returns every reply the server sent until it closed: once it has, the
// server is done with the transaction.
func CutOffBDAT(addr, rcpt, body string, n int) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(conn)
	if _, err := readReply(r); err != nil {
		return "", fmt.Errorf("greeting: %w", err)
	}
	for _, cmd := range []string{"LHLO client.example.org", "MAIL FROM:<sender@example.org>", "RCPT TO:<" + rcpt + ">"} {
		fmt.Fprintf(conn, "%s\r\n", cmd)
		rep, err := readReply(r)
		if err != nil || !strings.HasPrefix(rep, "250") {
			return "", fmt.Errorf("%s: %q %v", cmd, rep, err)
		}
	}
	fmt.Fprintf(conn, "BDAT %d LAST\r\n%s", len(body), body[:n])
	conn.(*net.TCPConn).CloseWrite()
	rest, err := io.ReadAll(r)
	return string(rest), err
}

// readReply reads one reply, every line of a multi-line one.
func readReply(r *bufio.Reader) (string, error) {
	var out string
	for {
		l, err := r.ReadString('\n')
		out += l
		if err != nil {
			return out, err
		}
		if len(l) < 4 || l[3] == ' ' {
			return out, nil
		}
	}
}
