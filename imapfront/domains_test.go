package imapfront

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// With mail domains in the directory a user of the default domain logs in
// with or without it, a user named with a domain only with it, and a
// domain the cluster does not serve, or an alias, logs nobody in.
func TestLoginByDomain(t *testing.T) {
	dir := newLocalDirectory()
	dir.addUser(t, "alice", "secret")
	dir.addUser(t, "carol@example.net", "secret")
	dir.mustApply(t, fsm.DomainAdd{Name: "example.org", Default: true})
	dir.mustApply(t, fsm.DomainAdd{Name: "example.net"})
	dir.mustApply(t, fsm.AliasAdd{Address: "postmaster@example.net", User: "alice"})
	addr, _ := startFrontend(t, testConfig(t, dir))

	for name, ok := range map[string]bool{
		"alice": true, "alice@example.org": true, "ALICE@Example.ORG": true,
		"carol@example.net": true, "carol": false, "alice@example.net": false,
		"alice@any.domain": false, "postmaster@example.net": false,
	} {
		c, err := imapclient.DialInsecure(addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = c.Login(name, "secret").Wait()
		c.Close()
		if (err == nil) != ok {
			t.Errorf("login %s: %v, want success %v", name, err, ok)
		}
	}

	host, port, _ := strings.Cut(addr, ":")
	if py, err := exec.LookPath("python3"); err == nil {
		script := fmt.Sprintf(`
import imaplib
c = imaplib.IMAP4(%q, %s)
typ, data = c.login('alice@example.org', 'secret')
assert typ == 'OK', data
c.logout()
try:
    imaplib.IMAP4(%q, %s).login('alice@elsewhere.example', 'secret')
    print('foreign domain logged in')
except imaplib.IMAP4.error as e:
    assert 'AUTHENTICATIONFAILED' in str(e), e
    print('ok')
`, host, port, host, port)
		if out, err := exec.Command(py, "-c", script).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "ok" {
			t.Errorf("imaplib: %v\n%s", err, out)
		}
	} else {
		t.Log("python3 not installed: imaplib part skipped")
	}
	if curl, err := exec.LookPath("curl"); err == nil {
		out, err := exec.Command(curl, "-s", "-S", "--max-time", "20", "imap://"+addr+"/", "-u", "carol@example.net:secret").CombinedOutput()
		if err != nil {
			t.Errorf("curl as carol@example.net: %v\n%s", err, out)
		}
		if out, err := exec.Command(curl, "-s", "--max-time", "20", "imap://"+addr+"/", "-u", "carol:secret").CombinedOutput(); err == nil {
			t.Errorf("curl as carol (not of the default domain) logged in:\n%s", out)
		}
	} else {
		t.Log("curl not installed: curl part skipped")
	}
}

// An admin's authorization id may name a user by any of its names, and
// a user may name itself by another of its names without being an admin.
func TestAuthorizeByDomainName(t *testing.T) {
	dir := newLocalDirectory()
	dir.addUser(t, "alice", "secret")
	dir.addUser(t, "helpdesk", "secret")
	dir.mustApply(t, fsm.UserAdmin{Name: "helpdesk", Admin: true})
	dir.mustApply(t, fsm.DomainAdd{Name: "example.org"})
	srv := &Server{cfg: testConfig(t, dir)}
	sess := &session{srv: srv, cfg: &srv.cfg, log: srv.cfg.Logger}
	alice, _ := readAt(t, dir, directory.Local).User("alice")
	helpdesk, _ := readAt(t, dir, directory.Local).User("helpdesk")
	if u, err := sess.authorize(alice, "alice@example.org"); err != nil || u.Name != "alice" {
		t.Errorf("alice as alice@example.org: %v %v", u, err)
	}
	if u, err := sess.authorize(helpdesk, "ALICE@example.org"); err != nil || u.Name != "alice" {
		t.Errorf("helpdesk as alice@example.org: %v %v", u, err)
	}
	if _, err := sess.authorize(alice, "helpdesk@example.org"); err == nil {
		t.Error("alice may act as helpdesk")
	}
}
