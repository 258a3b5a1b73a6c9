package pop3front_test

import (
	"bufio"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// popClient is a bare POP3 client, for the exchanges the library clients
// cannot make (a connection cut before QUIT).
type popClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialPOP(t *testing.T, addr string) *popClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(time.Minute))
	p := &popClient{t: t, nc: nc, br: bufio.NewReader(nc)}
	if g := p.line(); !strings.HasPrefix(g, "+OK") {
		t.Fatalf("greeting %q", g)
	}
	return p
}

func (p *popClient) line() string {
	p.t.Helper()
	l, err := p.br.ReadString('\n')
	if err != nil {
		p.t.Fatalf("read: %v", err)
	}
	return strings.TrimRight(l, "\r\n")
}

// cmd sends one command and returns its status line.
func (p *popClient) cmd(line string) string {
	p.t.Helper()
	if _, err := p.nc.Write([]byte(line + "\r\n")); err != nil {
		p.t.Fatal(err)
	}
	return p.line()
}

// must sends a command that must answer +OK.
func (p *popClient) must(line string) string {
	p.t.Helper()
	st := p.cmd(line)
	if !strings.HasPrefix(st, "+OK") {
		p.t.Fatalf("%s: %q", line, st)
	}
	return st
}

// multi reads the rest of a multi-line response, un-stuffed.
func (p *popClient) multi() []string {
	p.t.Helper()
	var out []string
	for {
		l := p.line()
		if l == "." {
			return out
		}
		out = append(out, strings.TrimPrefix(l, "."))
	}
}

// loginPlain logs in with AUTH PLAIN and an initial response (SASL-IR).
func (p *popClient) loginPlain(user string) string {
	p.t.Helper()
	ir := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + testcluster.Password))
	return p.cmd("AUTH PLAIN " + ir)
}

// uidls logs in as user on addr and returns the UIDL listing.
func uidls(t *testing.T, addr, user string) []string {
	t.Helper()
	p := dialPOP(t, addr)
	p.must("USER " + user)
	p.must("PASS " + testcluster.Password)
	p.must("UIDL")
	out := p.multi()
	p.must("QUIT")
	return out
}

func imapLogin(t testing.TB, addr, user string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, testcluster.Password).Wait(); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

func messageBody(subject string) string {
	return "From: a@example.org\r\nSubject: " + subject + "\r\n\r\nbody of " + subject + "\r\n.starts with a dot\r\n"
}

// appendMessages appends one message per subject to INBOX over IMAP.
func appendMessages(t *testing.T, c *imapclient.Client, subjects ...string) {
	t.Helper()
	for _, s := range subjects {
		body := messageBody(s)
		cmd := c.Append("INBOX", int64(len(body)), &imap.AppendOptions{Time: time.Now()})
		if _, err := cmd.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := cmd.Wait(); err != nil {
			t.Fatalf("APPEND %s: %v", s, err)
		}
	}
}

// inboxCount is the number of messages an IMAP SELECT of INBOX reports.
func inboxCount(t *testing.T, addr, user string) uint32 {
	t.Helper()
	c := imapLogin(t, addr, user)
	data, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	c.Logout().Wait()
	return data.NumMessages
}

func seqSet(n uint32) imap.SeqSet { return imap.SeqSetNum(n) }

func storeDeleted() *imap.StoreFlags {
	return &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
}
