package main

import (
	"strings"
	"testing"
)

// A frontend with plaintext login off and no client certificate warns
// that no client can log in; with either, or without the frontend role,
// it does not.
func TestNoLoginWarning(t *testing.T) {
	for _, tc := range []struct {
		name      string
		roles     []string
		plaintext bool
		cert      string
		warn      bool
	}{
		{"frontend, neither", []string{"frontend"}, false, "", true},
		{"frontend, plaintext", []string{"frontend"}, true, "", false},
		{"frontend, certificate", []string{"frontend"}, false, "/etc/rookery/tls/node.crt", false},
		{"backend only", []string{"directory", "backend"}, false, "", false},
	} {
		c := Default()
		c.Roles = tc.roles
		c.Frontend.AllowPlaintextLogin = tc.plaintext
		c.Frontend.TLSCertFile = tc.cert
		got := c.noLoginWarning()
		if (got != "") != tc.warn || tc.warn && !strings.Contains(got, "NO CLIENT CAN LOG IN") {
			t.Errorf("%s: warning %q", tc.name, got)
		}
	}
}
