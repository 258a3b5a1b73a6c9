// Package slapdtest runs OpenLDAP's slapd for tests: on a loopback port,
// in a temporary directory, with a small tree, stopped by the test. A
// test skips, saying why, where slapd is not installed.
package slapdtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The tree: dc=example,dc=org with people alice (password alice-pw,
// mail alice@example.org) and bob (bob-pw), and the service account
// cn=reader (reader-pw).
const (
	BaseDN       = "ou=people,dc=example,dc=org"
	ReaderDN     = "cn=reader,dc=example,dc=org"
	ReaderPW     = "reader-pw"
	rootDN       = "cn=admin,dc=example,dc=org"
	rootPW       = "admin-pw"
	ldifTemplate = `dn: dc=example,dc=org
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,dc=example,dc=org
objectClass: organizationalUnit
ou: people

dn: cn=reader,dc=example,dc=org
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: reader
userPassword: reader-pw
%s`
	personTemplate = `
dn: uid=%[1]s,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: %[1]s
cn: %[1]s
sn: %[1]s
mail: %[1]s@example.org
userPassword: %[1]s-pw
`
)

// Server is a running slapd.
type Server struct {
	URL string // ldap://, which also takes StartTLS
	// LDAPSURL is ldaps:// with a certificate for 127.0.0.1 that Roots
	// signed.
	LDAPSURL string
	Roots    *x509.CertPool
	cmd      *exec.Cmd
	dir      string
	t        testing.TB
}

// Start runs slapd with the people named (alice and bob when none).
func Start(t testing.TB, people ...string) *Server {
	t.Helper()
	slapd, err := exec.LookPath("slapd")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/slapd"); serr != nil {
			t.Skip("slapd is not installed (apt-get install slapd ldap-utils): skipping the LDAP test")
		}
		slapd = "/usr/sbin/slapd"
	}
	slapadd := filepath.Join(filepath.Dir(slapd), "slapadd")
	if len(people) == 0 {
		people = []string{"alice", "bob"}
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile %[1]s/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
suffix "dc=example,dc=org"
rootdn "%[2]s"
rootpw %[3]s
directory %[4]s
TLSCACertificateFile %[5]s
TLSCertificateFile %[6]s
TLSCertificateKeyFile %[7]s
access to attrs=userPassword by self read by anonymous auth by * none
access to * by * read
`, dir, rootDN, rootPW, db, filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	s := &Server{dir: dir, t: t, Roots: writeCerts(t, dir)}
	confPath := filepath.Join(dir, "slapd.conf")
	var persons strings.Builder
	for _, p := range people {
		fmt.Fprintf(&persons, personTemplate, p)
	}
	ldif := filepath.Join(dir, "tree.ldif")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ldif, []byte(fmt.Sprintf(ldifTemplate, persons.String())), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(slapadd, "-f", confPath, "-l", ldif).CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}
	s.start(slapd, confPath)
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start(slapd, confPath string) {
	s.t.Helper()
	addr, tlsAddr := freeAddr(s.t), freeAddr(s.t)
	s.URL, s.LDAPSURL = "ldap://"+addr, "ldaps://"+tlsAddr
	// -d keeps slapd in the foreground, so the test owns the process.
	s.cmd = exec.Command(slapd, "-f", confPath, "-h", s.URL+"/ "+s.LDAPSURL+"/", "-d", "0")
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("slapd: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			if c, err = net.DialTimeout("tcp", tlsAddr, time.Second); err == nil {
				c.Close()
				return
			}
		}
		if time.Now().After(deadline) {
			s.Stop()
			s.t.Fatalf("slapd did not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling for the port to open
	}
}

// Stop ends slapd and waits for it; the URL then refuses connections.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// writeCerts makes a CA and a certificate for 127.0.0.1 it signed, in
// dir as ca.pem, cert.pem and key.pem, and returns the CA as a pool.
func writeCerts(t testing.TB, dir string) *x509.CertPool {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "slapdtest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	for name, block := range map[string]*pem.Block{
		"ca.pem": {Type: "CERTIFICATE", Bytes: caDER}, "cert.pem": {Type: "CERTIFICATE", Bytes: der},
		"key.pem": {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool
}
