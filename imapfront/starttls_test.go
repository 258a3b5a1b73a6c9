package imapfront

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// LOGIN is refused in plaintext and works after STARTTLS.
func TestStartTLSLogin(t *testing.T) {
	certSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer certSrv.Close()
	clientTLS := certSrv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	clientTLS.ServerName = "example.com"

	dir := newLocalDirectory()
	dir.addUser(t, "alice", "secret")
	cfg := testConfig(t, dir)
	cfg.AllowPlaintextLogin = false
	cfg.TLS = certSrv.TLS
	addr, _ := startFrontend(t, cfg)
	rc := dialRaw(t, addr)
	rc.send("a CAPABILITY\r\n")
	if l := rc.line(); !strings.Contains(l, "STARTTLS") || !strings.Contains(l, "LOGINDISABLED") {
		t.Fatalf("capability before TLS: %q", l)
	}
	rc.until("a OK")
	rc.send("b LOGIN alice secret\r\n")
	rc.until("b NO [PRIVACYREQUIRED]")
	rc.send("c STARTTLS\r\n")
	rc.until("c OK")
	tc := tls.Client(rc.c, clientTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	rc.c = tc
	rc.br.Reset(tc)
	rc.send("d CAPABILITY\r\n")
	if l := rc.line(); strings.Contains(l, "STARTTLS") || !strings.Contains(l, "AUTH=PLAIN") {
		t.Fatalf("capability after TLS: %q", l)
	}
	rc.until("d OK")
	rc.send("e LOGIN alice secret\r\n")
	if l := rc.until("e "); !strings.HasPrefix(l, "e OK") {
		t.Fatalf("LOGIN over TLS: %q", l)
	}
}
