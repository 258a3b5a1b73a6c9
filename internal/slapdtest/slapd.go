// Package slapdtest runs OpenLDAP's slapd for tests: on a loopback port,
// in a temporary directory, with a small tree, stopped by the test. A
// test skips, saying why, where slapd is not installed.
package slapdtest

import (
	"fmt"
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
	URL string
	cmd *exec.Cmd
	dir string
	t   testing.TB
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
access to attrs=userPassword by self read by anonymous auth by * none
access to * by * read
`, dir, rootDN, rootPW, db)
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
	s := &Server{dir: dir, t: t}
	s.start(slapd, confPath)
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start(slapd, confPath string) {
	s.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s.URL = "ldap://" + addr
	// -d keeps slapd in the foreground, so the test owns the process.
	s.cmd = exec.Command(slapd, "-f", confPath, "-h", s.URL+"/", "-d", "0")
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("slapd: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
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
