package testcluster

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// StartDovecot runs Dovecot (Debian's dovecot-imapd), the peer of the
// differential tests, in the foreground on a free loopback port with a
// config of its own, a passwd-file user alice with Password and a Maildir
// in a temporary directory, and stops it with the test. It skips when
// Dovecot's IMAP server is not installed, or when the test does not run
// as root (Dovecot then needs a setup of its own users).
func StartDovecot(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("dovecot")
	if err == nil {
		_, err = os.Stat("/usr/lib/dovecot/imap")
	}
	if err != nil {
		t.Skip("Dovecot's IMAP server (Debian package dovecot-imapd) is not installed: skipping the differential test")
	}
	if os.Getuid() != 0 {
		t.Skip("the Dovecot differential test runs Dovecot as root with a mail user of nobody; not root here")
	}
	dir := t.TempDir()
	// Dovecot serves the mail as nobody, who must reach the Maildir.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mail := filepath.Join(dir, "mail")
	for _, d := range []string{filepath.Join(dir, "run"), filepath.Join(dir, "state"), mail} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(mail, 0o777); err != nil {
		t.Fatal(err)
	}
	addr := FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	// COMPRESS=DEFLATE is Dovecot's imap_zlib plugin, in dovecot-core.
	plugins := ""
	if _, err := os.Stat("/usr/lib/dovecot/modules/lib30_imap_zlib_plugin.so"); err == nil {
		plugins = "protocol imap {\n  mail_plugins = $mail_plugins imap_zlib\n}\n"
	}
	conf := fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:%[1]s/mail/%%u
first_valid_uid = 0
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/passwd
}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=%[1]s/mail/%%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[2]s
  }
  inet_listener imaps {
    port = 0
  }
}
`, dir, port) + plugins
	RunDovecot(t, bin, dir, addr, conf)
	return addr
}

// RunDovecot writes conf (whose listener is addr) to dir with a
// passwd-file for alice with Password, runs Dovecot's binary bin on it in
// the foreground until the test ends, and waits until addr takes
// connections.
func RunDovecot(t testing.TB, bin, dir, addr, conf string) {
	t.Helper()
	confPath := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte("alice:{PLAIN}"+Password+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-F", "-c", confPath)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dovecot: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	WaitFor(t, "dovecot listening", func() bool {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
}
