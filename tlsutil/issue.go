package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// IssueNode signs a certificate for nodeID with the CA in caDir and writes
// node.crt, node.key (0600) and a copy of ca.crt into outDir. hosts are the
// names and IP addresses other nodes dial this node by; they and nodeID
// (when it is a valid DNS name) become the certificate's SANs. An existing
// node certificate in outDir is replaced: that is how one renews it.
func IssueNode(caDir, nodeID string, hosts []string, outDir string) (*x509.Certificate, error) {
	ca, err := LoadCA(caDir)
	if err != nil {
		return nil, err
	}
	dnsNames, ips, err := sans(nodeID, hosts)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	notAfter := now.Add(NodeLifetime)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: nodeID, Organization: []string{"Rookery"}},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		// Every node both serves and dials its peers (Raft, cluster API,
		// replication), so one certificate does both.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    dnsNames,
		IPAddresses: ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return nil, err
	}
	// The key first: a certificate on disk without its key would make the
	// node fail at start with a less obvious error.
	if err := writeKey(filepath.Join(outDir, NodeKeyFile), key); err != nil {
		return nil, err
	}
	if err := writePEM(filepath.Join(outDir, NodeCertFile), "CERTIFICATE", der, 0o644); err != nil {
		return nil, err
	}
	if err := writePEM(filepath.Join(outDir, CACertFile), "CERTIFICATE", ca.Cert.Raw, 0o644); err != nil {
		return nil, err
	}
	return cert, nil
}

// sans sorts hosts into DNS names and IP addresses, adding nodeID as a DNS
// name when it is one, without duplicates.
func sans(nodeID string, hosts []string) ([]string, []net.IP, error) {
	var dnsNames []string
	var ips []net.IP
	seen := map[string]bool{}
	if validDNSName(nodeID) {
		dnsNames = append(dnsNames, strings.ToLower(nodeID))
		seen[strings.ToLower(nodeID)] = true
	}
	for _, h := range hosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
			continue
		}
		if !validDNSName(h) {
			return nil, nil, fmt.Errorf("%w: %q", ErrBadHost, h)
		}
		dnsNames = append(dnsNames, h)
	}
	if len(dnsNames) == 0 && len(ips) == 0 {
		return nil, nil, fmt.Errorf("%w: node %q needs at least one host name or IP address", ErrBadHost, nodeID)
	}
	return dnsNames, ips, nil
}

// validDNSName accepts host names of letters, digits and hyphens in dot
// separated labels (RFC 1123), without wildcards.
func validDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// Describe is a short human summary of a certificate, for `rookery tls`
// output and logs.
func Describe(cert *x509.Certificate) string {
	var names []string
	names = append(names, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		names = append(names, ip.String())
	}
	return fmt.Sprintf("%s (SANs %s; valid %s to %s)", cert.Subject.CommonName, strings.Join(names, ", "),
		cert.NotBefore.UTC().Format(time.DateOnly), cert.NotAfter.UTC().Format(time.DateOnly))
}
