package bench

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-smtp"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

func TestLMTPHealthyCluster(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1})
	c.AddUser("alice", 0)
	c.AddUser("bob", 1)
	f := c.Frontends[0]
	res, err := RunLMTP(testcluster.Ctx(t), LMTPConfig{
		LMTPAddr: f.LMTPAddr, IMAPAddr: f.IMAPAddr,
		Users: []Credential{{"alice", testcluster.Password}, {"bob", testcluster.Password}},
		Rcpts: 3, Conns: 2, Duration: 1500 * time.Millisecond, Size: 4000, Seed: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil {
		t.Fatalf("a healthy cluster: %v\n%s", err, strings.Join(res.Examples, "\n"))
	}
	acks, _ := res.Figure("acknowledged_copies")
	found, _ := res.Figure("verified_copies")
	if acks == 0 || found < acks {
		t.Fatalf("acknowledged %v copies, found %v", acks, found)
	}
	logOps(t, res)
}

// lossyLMTP is an LMTP server that stores into a go-imap in-memory user's
// INBOX, storing every fourth message twice and dropping every seventh.
type lossyLMTP struct {
	user  *imapmemserver.User
	lossy bool
	mu    sync.Mutex
	n     int
}

func (b *lossyLMTP) NewSession(*smtp.Conn) (smtp.Session, error) { return &lossySession{b: b}, nil }

type lossySession struct{ b *lossyLMTP }

func (*lossySession) Reset()                               {}
func (*lossySession) Logout() error                        { return nil }
func (*lossySession) Mail(string, *smtp.MailOptions) error { return nil }
func (*lossySession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *lossySession) Data(r io.Reader) error {
	msg, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.b.mu.Lock()
	s.b.n++
	n := s.b.n
	s.b.mu.Unlock()
	copies := 1
	if s.b.lossy && n%4 == 0 {
		copies = 2
	} else if s.b.lossy && n%7 == 0 {
		copies = 0
	}
	for range copies {
		if _, err := s.b.user.Append("INBOX", bytes.NewReader(msg), &imap.AppendOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// startMemMail runs an LMTP server and an IMAP server over one in-memory
// user alice (password pw).
func startMemMail(t *testing.T, lossy bool) (lmtpAddr, imapAddr string) {
	mem := imapmemserver.New()
	u := imapmemserver.NewUser("alice", "pw")
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(u)
	isrv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps: imap.CapSet{imap.CapIMAP4rev1: {}}, InsecureAuth: true, Logger: nopLogger{},
	})
	imapAddr = serveTest(t, isrv.Serve, isrv.Close)
	lsrv := smtp.NewServer(&lossyLMTP{user: u, lossy: lossy})
	lsrv.LMTP = true
	lsrv.Domain = "localhost"
	lsrv.ReadTimeout, lsrv.WriteTimeout = 10*time.Second, 10*time.Second
	lmtpAddr = serveTest(t, lsrv.Serve, lsrv.Close)
	return lmtpAddr, imapAddr
}

func runLMTPAgainst(t *testing.T, lossy bool) *Result {
	lmtpAddr, imapAddr := startMemMail(t, lossy)
	res, err := RunLMTP(testcluster.Ctx(t), LMTPConfig{
		LMTPAddr: lmtpAddr, IMAPAddr: imapAddr, Users: []Credential{{"alice", "pw"}},
		Rcpts: 1, Conns: 2, Duration: 500 * time.Millisecond, Size: 1500, Seed: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestLMTPHonestMemoryServer(t *testing.T) {
	res := runLMTPAgainst(t, false)
	if err := res.Err(); err != nil {
		t.Fatalf("an honest server: %v\n%s", err, strings.Join(res.Examples, "\n"))
	}
	if n, _ := res.Figure("acknowledged_copies"); n < 7 {
		t.Fatalf("only %v copies delivered: too few to check anything", n)
	}
}

func TestLMTPFindsLostAndDuplicated(t *testing.T) {
	res := runLMTPAgainst(t, true)
	if n, _ := res.Figure("acknowledged_copies"); n < 8 {
		t.Fatalf("only %v copies delivered: too few for the server to have lost one", n)
	}
	if !anyContains(res.Examples, "delivered 2 times") || !anyContains(res.Examples, "acknowledged but not in INBOX") {
		t.Fatalf("want both a duplicate and a loss reported, got %d violations:\n%s", res.Violations, strings.Join(res.Examples, "\n"))
	}
}
