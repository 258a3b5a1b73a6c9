package pop3front_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// Sizes of the RETR benchmark's maildrop.
const (
	benchMessages    = 40
	benchMessageSize = 64 << 10
)

// BenchmarkRETRVsDovecot retrieves a maildrop of benchMessages messages
// of 64 KiB, one session per iteration (login, RETR of each, QUIT), from
// a Rookery frontend (which proxies to the backend's POP3 server) and
// from Dovecot's POP3 server (Debian's dovecot-pop3d, started here on
// loopback with a Maildir of the same messages), alternately in the same
// run. It reports each one's throughput and Rookery's as a share of
// Dovecot's.
func BenchmarkRETRVsDovecot(b *testing.B) {
	body := benchBody()
	dovecot := startDovecotPOP3(b, body)
	c := testcluster.Start(b, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	f := c.Frontends[0]
	im := imapLogin(b, f.IMAPAddr, "alice")
	for range benchMessages {
		cmd := im.Append("INBOX", int64(len(body)), nil)
		cmd.Write([]byte(body))
		cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
	}
	retrAll(b, f.POP3Addr) // warm both caches
	retrAll(b, dovecot)
	var rookery, dc time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		retrAll(b, f.POP3Addr)
		rookery += time.Since(start)
		start = time.Now()
		retrAll(b, dovecot)
		dc += time.Since(start)
	}
	mb := float64(b.N*benchMessages*len(body)) / (1 << 20)
	b.ReportMetric(mb/rookery.Seconds(), "rookery-MiB/s")
	b.ReportMetric(mb/dc.Seconds(), "dovecot-MiB/s")
	b.ReportMetric(dc.Seconds()/rookery.Seconds(), "rookery/dovecot")
}

// benchBody is a message of benchMessageSize octets in 76-column lines.
func benchBody() string {
	var sb strings.Builder
	sb.WriteString("From: a@example.org\r\nSubject: bench\r\n\r\n")
	line := strings.Repeat("x", 76) + "\r\n"
	for sb.Len()+len(line) <= benchMessageSize {
		sb.WriteString(line)
	}
	return sb.String()
}

// retrAll runs one session retrieving every message.
func retrAll(b *testing.B, addr string) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(time.Minute))
	br := bufio.NewReaderSize(nc, 64<<10)
	status := func(cmd string) {
		if cmd != "" {
			io.WriteString(nc, cmd+"\r\n")
		}
		l, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(l, "+OK") {
			b.Fatalf("%s: %q %v", cmd, l, err)
		}
	}
	status("")
	status("USER alice")
	status("PASS " + testcluster.Password)
	for i := 1; i <= benchMessages; i++ {
		status(fmt.Sprintf("RETR %d", i))
		for {
			l, err := br.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if string(l) == ".\r\n" {
				break
			}
		}
	}
	status("QUIT")
}

// startDovecotPOP3 runs Dovecot's POP3 server in the foreground on a free
// loopback port, with a config of its own and alice's Maildir holding
// benchMessages copies of body, and stops it with the benchmark. It skips
// when dovecot-pop3d is not installed or not running as root (Dovecot
// then needs a setup of its own users).
func startDovecotPOP3(b *testing.B, body string) string {
	bin, err := exec.LookPath("dovecot")
	if err == nil {
		_, err = os.Stat("/usr/lib/dovecot/pop3")
	}
	if err != nil {
		b.Skip("Dovecot's POP3 server (Debian package dovecot-pop3d) is not installed")
	}
	if os.Getuid() != 0 {
		b.Skip("the benchmark runs Dovecot as root with a mail user of nobody; not root here")
	}
	dir := b.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o755)
	}
	maildir := filepath.Join(dir, "mail", "alice")
	for _, d := range []string{filepath.Join(dir, "run"), filepath.Join(dir, "state"), filepath.Join(maildir, "new"),
		filepath.Join(maildir, "cur"), filepath.Join(maildir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	for i := range benchMessages {
		if err := os.WriteFile(filepath.Join(maildir, "cur", fmt.Sprintf("%d.M%dP1.bench:2,", 1700000000+i, i)), []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	filepath.Walk(filepath.Join(dir, "mail"), func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, 65534, 65534) })
	addr := testcluster.FreeAddr(b)
	_, port, _ := net.SplitHostPort(addr)
	conf := fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:%[1]s/mail/%%u
pop3_uidl_format = %%08Xu%%08Xv
first_valid_uid = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/passwd
}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=%[1]s/mail/%%u
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = %[2]s
  }
  inet_listener pop3s {
    port = 0
  }
}
`, dir, port)
	testcluster.RunDovecot(b, bin, dir, addr, conf)
	return addr
}
