package lmtp_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/rookery-mail/rookery/internal/testcluster"
	"github.com/rookery-mail/rookery/lmtp"
)

// TestStartTLS: with Config.TLS set the proxy offers STARTTLS; a client
// that trusts only the test CA upgrades, verifies the proxy's certificate
// and delivers over TLS. Without it STARTTLS is not offered.
//
// go-smtp's client starts TLS only for SMTP (EHLO), so the client here is
// net/textproto speaking LMTP, with crypto/tls underneath.
func TestStartTLS(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("kate", 0)
	roots, cert := testCerts(t)
	addr := startProxy(t, c, func(cfg *lmtp.Config) {
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	})

	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	plain := textproto.NewConn(conn)
	expect(t, plain, "", 220)
	if ext := expect(t, plain, "LHLO test.example", 250); !strings.Contains(ext, "STARTTLS") {
		t.Fatalf("LHLO reply offers no STARTTLS:\n%s", ext)
	}
	expect(t, plain, "STARTTLS", 220)
	tc := tls.Client(conn, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	if !tc.ConnectionState().HandshakeComplete {
		t.Fatal("handshake not complete")
	}
	text := textproto.NewConn(tc)
	if ext := expect(t, text, "LHLO test.example", 250); strings.Contains(ext, "STARTTLS") {
		t.Fatalf("STARTTLS offered again inside TLS:\n%s", ext)
	}
	expect(t, text, "MAIL FROM:<s@example.org>", 250)
	expect(t, text, "RCPT TO:<kate@example.org>", 250)
	expect(t, text, "DATA", 354)
	w := text.DotWriter()
	io.WriteString(w, message("tls"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	expect(t, text, "", 250) // the one recipient's reply
	expect(t, text, "QUIT", 221)
	if n := inboxCount(t, c, "kate"); n != 1 {
		t.Fatalf("kate has %d messages, want 1", n)
	}

	// The cluster's own proxy has no TLS configured.
	bare, err := net.DialTimeout("tcp", c.Frontends[0].LMTPAddr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cl := smtp.NewClientLMTP(bare)
	defer cl.Close()
	if err := cl.Hello("test.example"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := cl.Extension("STARTTLS"); ok {
		t.Fatal("STARTTLS offered without a TLS config")
	}
}

// expect sends cmd (none when empty) and reads a reply with code, which it
// returns the text of.
func expect(t *testing.T, c *textproto.Conn, cmd string, code int) string {
	t.Helper()
	if cmd != "" {
		if err := c.PrintfLine("%s", cmd); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
	}
	_, msg, err := c.ReadResponse(code)
	if err != nil {
		t.Fatalf("%q: %v", cmd, err)
	}
	return msg
}

// testCerts makes a CA and a certificate it signs for localhost and
// 127.0.0.1, and returns the pool that trusts the CA and the certificate.
func testCerts(t *testing.T) (*x509.CertPool, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rookery test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return roots, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
