package node_test

import (
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/node"
	"github.com/rookery-mail/rookery/internal/slapdtest"
	"github.com/rookery-mail/rookery/internal/testcluster"
)

// LDAP as the password source of users without a stored hash: alice,
// whom LDAP knows and the directory does not, is created with her INBOX at
// her first login (AutoCreate); a directory user with a hash keeps it;
// with slapd stopped, a login LDAP must decide is NO [UNAVAILABLE], never
// a refusal, and one the cache remembers still gets in.
func TestLDAPLogins(t *testing.T) {
	slapd := slapdtest.Start(t)
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1, Accounts: node.AccountsConfig{
		LDAP: &auth.LDAPConfig{URL: slapd.URL, BindDN: slapdtest.ReaderDN, BindPassword: slapdtest.ReaderPW,
			BaseDN: slapdtest.BaseDN, Filter: "(uid=%s)", UserAttribute: "uid", Timeout: 2 * time.Second},
		LDAPCacheTTL: time.Hour,
		AutoCreate:   true,
	}})
	c.AddUser("dora", 0) // a stored hash: LDAP is not asked
	addr := c.Frontends[0].IMAPAddr
	login := func(user, pw string) error {
		cl, err := imapclient.DialInsecure(addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.Login(user, pw).Wait(); err != nil {
			return err
		}
		_, err = cl.Select("INBOX", nil).Wait()
		return err
	}
	if err := login("alice", "alice-pw"); err != nil {
		t.Fatalf("first LDAP login: %v", err)
	}
	if _, ok := testcluster.Local(t, c.Voters[0]).Mailbox(fsm.Inbox("alice")); !ok {
		t.Fatal("alice's INBOX was not created")
	}
	if u, _ := testcluster.Local(t, c.Voters[0]).User("alice"); u == nil || u.PasswordHash != "" {
		t.Fatalf("alice's record %+v", u)
	}
	if err := login("alice", "bob-pw"); err == nil {
		t.Fatal("a wrong LDAP password logged in")
	}
	if err := login("carol", "carol-pw"); err == nil {
		t.Fatal("a user neither LDAP nor the directory knows logged in")
	}
	if err := login("dora", testcluster.Password); err != nil {
		t.Fatalf("directory user: %v", err)
	}
	if py, err := exec.LookPath("python3"); err == nil {
		host, port, _ := strings.Cut(addr, ":")
		script := fmt.Sprintf("import imaplib\nc = imaplib.IMAP4(%q, %s)\nprint(c.login('bob', 'bob-pw')[0])\nprint(c.select('INBOX')[0])\n", host, port)
		if out, err := exec.Command(py, "-c", script).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "OK\nOK" {
			t.Fatalf("imaplib as bob: %v\n%s", err, out)
		}
	}

	slapd.Stop()
	// alice's login is remembered for LDAPCacheTTL.
	if err := login("alice", "alice-pw"); err != nil {
		t.Fatalf("a remembered LDAP login with slapd down: %v", err)
	}
	for _, u := range []struct{ name, pw string }{{"alice", "other-pw"}, {"eve", "eve-pw"}} {
		err := login(u.name, u.pw)
		if err == nil || !strings.Contains(err.Error(), "UNAVAILABLE") {
			t.Fatalf("%s with slapd down: %v, want NO [UNAVAILABLE]", u.name, err)
		}
	}
	if curl, err := exec.LookPath("curl"); err == nil {
		out, err := exec.Command(curl, "-s", "-v", "--max-time", "20", "imap://"+addr+"/", "-u", "bob:not-bobs-pw").CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || !strings.Contains(string(out), "NO [UNAVAILABLE]") {
			t.Fatalf("curl with slapd down: %v\n%s", err, out)
		}
	}
	if err := login("dora", testcluster.Password); err != nil {
		t.Fatalf("directory user with slapd down: %v", err)
	}
}

// BenchmarkLDAPLogin is logins a second through a frontend whose users'
// passwords LDAP (slapd on loopback, search-then-bind) checks, each login
// on a new connection by 10 clients, without and with the cache.
func BenchmarkLDAPLogin(b *testing.B) {
	slapd := slapdtest.Start(b)
	for _, ttl := range []time.Duration{-1, time.Minute} {
		b.Run(fmt.Sprintf("cache_ttl=%v", ttl), func(b *testing.B) {
			c := testcluster.Start(b, testcluster.Options{Backends: 1, Frontends: 1, Accounts: node.AccountsConfig{
				LDAP: &auth.LDAPConfig{URL: slapd.URL, BindDN: slapdtest.ReaderDN, BindPassword: slapdtest.ReaderPW,
					BaseDN: slapdtest.BaseDN, Filter: "(uid=%s)", UserAttribute: "uid", Timeout: 2 * time.Second, PoolSize: 10},
				LDAPCacheTTL: ttl, AutoCreate: true,
			}})
			addr := c.Frontends[0].IMAPAddr
			var next atomic.Int64
			began := time.Now()
			var wg sync.WaitGroup
			for range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						cl, err := imapclient.DialInsecure(addr, nil)
						if err != nil {
							b.Error(err)
							return
						}
						if err := cl.Login("alice", "alice-pw").Wait(); err != nil {
							b.Error(err)
						}
						cl.Logout().Wait()
						cl.Close()
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "logins/s")
		})
	}
}

// With AutoCreate, mail for a user LDAP knows and the directory does not
// creates the user and is delivered; with slapd down, such a recipient
// gets 451 at RCPT (the MTA retries), never 550, and a directory user's
// mail still goes through.
func TestLDAPDelivery(t *testing.T) {
	slapd := slapdtest.Start(t)
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1, Accounts: node.AccountsConfig{
		LDAP: &auth.LDAPConfig{URL: slapd.URL, BindDN: slapdtest.ReaderDN, BindPassword: slapdtest.ReaderPW,
			BaseDN: slapdtest.BaseDN, Filter: "(|(uid=%s)(mail=%s))", UserAttribute: "uid", Timeout: 2 * time.Second},
		AutoCreate: true,
	}})
	c.AddUser("dora", 0)
	lmtpAddr := c.Frontends[0].LMTPAddr
	rcpt := func(to string) string {
		t.Helper()
		conn, err := net.DialTimeout("tcp", lmtpAddr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(time.Minute))
		tc := textproto.NewConn(conn)
		defer tc.Close()
		step := func(cmd string) string {
			if cmd != "" {
				tc.PrintfLine("%s", cmd)
			}
			code, msg, err := tc.ReadResponse(0)
			if err != nil && code == 0 {
				t.Fatalf("%s: %v", cmd, err)
			}
			return fmt.Sprintf("%d %s", code, msg)
		}
		step("")
		step("LHLO test.example")
		step("MAIL FROM:<s@example.org>")
		got := step("RCPT TO:<" + to + ">")
		if strings.HasPrefix(got, "250") {
			step("DATA")
			got = step("Subject: hi\r\n\r\nhello\r\n.")
		}
		return got
	}
	if got := rcpt("bob@example.org"); !strings.HasPrefix(got, "250") {
		t.Fatalf("mail for bob, whom only LDAP knows: %q", got)
	}
	if n := c.MessageCount(fsm.Inbox("bob")); n != 1 {
		t.Fatalf("bob's INBOX holds %d messages", n)
	}
	if got := rcpt("carol@example.org"); !strings.HasPrefix(got, "550") {
		t.Fatalf("mail for carol, whom nobody knows: %q", got)
	}
	slapd.Stop()
	if got := rcpt("alice@example.org"); !strings.HasPrefix(got, "451") {
		t.Fatalf("mail for alice with slapd down: %q, want 451", got)
	}
	if got := rcpt("dora@example.org"); !strings.HasPrefix(got, "250") {
		t.Fatalf("mail for a directory user with slapd down: %q", got)
	}
}
