package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/testcluster"
)

// doveadmHash hashes pw with `doveadm pw`, as a Dovecot site's passwd-file
// holds it.
func doveadmHash(t *testing.T, doveadm, scheme, pw string) string {
	t.Helper()
	out, err := exec.Command(doveadm, "pw", "-s", scheme, "-p", pw).Output()
	if err != nil {
		t.Fatalf("doveadm pw -s %s: %v", scheme, err)
	}
	return strings.TrimSpace(string(out))
}

// TestAdminUserImport imports a Dovecot passwd-file written with doveadm's
// hashes into a test cluster, runs the import again to show it changes
// nothing, then once more after a password change; the imported users log
// in to a frontend with their old passwords.
func TestAdminUserImport(t *testing.T) {
	doveadm, err := exec.LookPath("doveadm")
	if err != nil {
		t.Skip("doveadm (Debian package dovecot-core) is not installed: no Dovecot hashes to import")
	}
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	t.Setenv("ROOKERY_CLUSTER_SECRET", testcluster.Secret)
	admin := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		a := append([]string{"--addr", c.Voters[0].APIAddr(), "--timeout", "1m"}, args...)
		err := runAdmin(a, &out, &errOut)
		return out.String() + errOut.String(), err
	}
	dir := t.TempDir()
	passwd := filepath.Join(dir, "users")
	hashes := map[string]string{}
	hashOf := func(user, scheme, pw string) string {
		if h, ok := hashes[user+scheme]; ok {
			return h
		}
		hashes[user+scheme] = doveadmHash(t, doveadm, scheme, pw)
		return hashes[user+scheme]
	}
	write := func(bobScheme string) {
		t.Helper()
		lines := []string{
			"# exported from the old server",
			"alice@example.org:" + hashOf("alice", "SHA512-CRYPT", "alice-pw") + ":1000:1000::/home/alice::userdb_quota_rule=*:storage=1G",
			"bob:" + hashOf("bob", bobScheme, "bob-pw") + ":1001:1001::/home/bob::",
			"carol:" + hashOf("carol", "BLF-CRYPT", "carol-pw"),
			"plain:{PLAIN}secret:1002:1002::/home/plain::",
			"bad+name:" + hashOf("bad", "BLF-CRYPT", "x"),
			"",
			"ALICE@example.org:{SHA512-CRYPT}$6$x$y",
		}
		if err := os.WriteFile(passwd, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ARGON2ID")
	out, err := admin("user", "import", passwd)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	for _, want := range []string{
		"importing users: 6/6",
		"added 3, already there with the same hash 0, updated 0, refused 3",
		"refused line 5 plain: auth: unknown password scheme",
		"refused line 6 bad+name: fsm: invalid user name",
		"refused line 8 ALICE@example.org: alice@example.org is on line 2 already",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("first import lacks %q:\n%s", want, out)
		}
	}
	waitUntil(t, "alice with a quota of 1G", func() bool {
		u, ok := testcluster.Local(t, c.Voters[0]).User("alice@example.org")
		return ok && u.QuotaBytes == 1<<30
	})

	out, err = admin("user", "import", passwd)
	if err != nil || !strings.Contains(out, "added 0, already there with the same hash 3, updated 0, refused 3") {
		t.Fatalf("second import: %v\n%s", err, out)
	}
	write("SHA256-CRYPT") // bob's password hashed anew: another hash
	out, err = admin("user", "import", passwd)
	if err != nil || !strings.Contains(out, "added 0, already there with the same hash 2, updated 1, refused 3") {
		t.Fatalf("import after a change: %v\n%s", err, out)
	}

	for user, pw := range map[string]string{"alice@example.org": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"} {
		cl, err := imapclient.DialInsecure(c.Frontends[0].IMAPAddr, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.Login(user, pw).Wait(); err != nil {
			t.Fatalf("login of imported %s: %v", user, err)
		}
		if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
			t.Fatalf("INBOX of imported %s: %v", user, err)
		}
		cl.Close()
	}
}

func TestAdminUserAddHashAndAdmin(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	t.Setenv("ROOKERY_CLUSTER_SECRET", testcluster.Secret)
	admin := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		a := append([]string{"--addr", c.Voters[0].APIAddr(), "--timeout", "1m"}, args...)
		err := runAdmin(a, &out, &errOut)
		return out.String() + errOut.String(), err
	}
	if out, err := admin("user", "add", "dora", "--hash", "{PLAIN}pw"); err == nil || !strings.Contains(err.Error(), "unknown password scheme") {
		t.Fatalf("user add with a bad hash: %v\n%s", err, out)
	}
	// bcrypt of "pw" at cost 4.
	const hash = "{BLF-CRYPT}$2y$04$69lQ0TTz30W43ZsNPHmgMefLcZL6kHa7eNBVNA5ZX1y30G4i2vIky"
	if out, err := admin("user", "add", "--admin", "dora", "--hash", hash); err != nil || !strings.Contains(out, "added user dora as an admin with INBOX") {
		t.Fatalf("user add --admin --hash: %v\n%s", err, out)
	}
	isAdmin := func() bool {
		u, ok := testcluster.Local(t, c.Voters[0]).User("dora")
		_, inbox := testcluster.Local(t, c.Voters[0]).Mailbox(fsm.Inbox("dora"))
		return ok && inbox && u.Admin && u.PasswordHash == hash
	}
	waitUntil(t, "dora an admin with the given hash and an INBOX", isAdmin)
	if out, err := admin("user", "list"); err != nil || !strings.Contains(out, "admin") {
		t.Fatalf("user list: %v\n%s", err, out)
	}
	for _, step := range []struct{ arg, want string }{
		{"on", "dora is an admin already"},
		{"off", "dora is not an admin ("},
		{"on", "dora is an admin ("},
	} {
		if out, err := admin("user", "admin", "dora", step.arg); err != nil || !strings.Contains(out, step.want) {
			t.Fatalf("user admin dora %s: %v\n%s", step.arg, err, out)
		}
	}
	if out, err := admin("user", "admin", "dora", "maybe"); err == nil {
		t.Fatalf("user admin dora maybe: accepted\n%s", out)
	}
	waitUntil(t, "dora an admin at the end", isAdmin)
	csvFile := filepath.Join(t.TempDir(), "users.csv")
	data := fmt.Sprintf("name,hash,quota\nerin,%s,5M\nfrank,%s\n\"unterminated,x\n", hash, hash)
	if err := os.WriteFile(csvFile, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"added 2, already there with the same hash 0", "added 0, already there with the same hash 2"} {
		out, err := admin("user", "import", csvFile)
		if err != nil || !strings.Contains(out, want) || !strings.Contains(out, "refused 1") || !strings.Contains(out, "refused line 4") {
			t.Fatalf("csv import: %v, want %q\n%s", err, want, out)
		}
	}
	waitUntil(t, "erin with a quota of 5M", func() bool {
		u, ok := testcluster.Local(t, c.Voters[0]).User("erin")
		return ok && u.QuotaBytes == 5<<20
	})
}
