package imapfront_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/testcluster"
)

// TestMbsyncRoundTrip syncs a user's whole tree, spread over two backends,
// from a frontend to a local Maildir with mbsync (Debian's isync), then
// syncs local changes back: a new local message and a new local folder.
func TestMbsyncRoundTrip(t *testing.T) {
	mbsync, err := exec.LookPath("mbsync")
	if err != nil {
		t.Skip("mbsync (Debian package isync) is not installed: skipping the mbsync round trip")
	}
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1})
	c.AddUser("alice", 0)
	c.Create(1, "user/alice/Lists")
	c.Create(0, "user/alice/Archive")
	c.Create(1, "user/alice/Archive/2026")
	for _, name := range []string{"user/alice/Lists", "user/alice/Archive/2026"} {
		c.Apply(fsm.SetACL{Name: name, Identifier: "anyone", Rights: "p"}) // a detail needs p (fsm.MayPost)
	}
	for _, to := range []string{"alice", "alice+Lists", "alice+Archive/2026", "alice"} {
		deliver(t, c.Frontends[0].LMTPAddr, to+"@example.org")
	}

	dir := t.TempDir()
	maildir := filepath.Join(dir, "mail")
	host, port, _ := net.SplitHostPort(c.Frontends[0].IMAPAddr)
	conf := fmt.Sprintf(`IMAPAccount rookery
Host %s
Port %s
User alice
Pass %s
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account rookery

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel all
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
`, host, port, testcluster.Password, maildir, maildir)
	if err := os.MkdirAll(maildir, 0o700); err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "mbsyncrc")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func() {
		t.Helper()
		out, err := exec.Command(mbsync, "-c", confPath, "-a").CombinedOutput()
		if err != nil {
			t.Fatalf("mbsync: %v\n%s", err, out)
		}
		if strings.Contains(strings.ToLower(string(out)), "error") {
			t.Fatalf("mbsync reported an error:\n%s", out)
		}
	}
	run()

	want := map[string]int{"INBOX": 2, "Lists": 1, "Archive": 0, "Archive/2026": 1}
	for folder, n := range want {
		if got := countMaildir(t, filepath.Join(maildir, folder)); got != n {
			t.Errorf("local %s has %d messages, want %d", folder, got, n)
		}
	}

	// Local changes: a message filed into Lists, and a new folder with one.
	writeMaildirMessage(t, filepath.Join(maildir, "Lists"), "local-1")
	writeMaildirMessage(t, filepath.Join(maildir, "Drafts"), "local-2")
	run()

	f := c.Frontends[0].Node
	v, err := f.Read(testcluster.Ctx(t), directory.Synced)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v.Mailbox("user/alice/Drafts"); !ok {
		t.Fatal("the folder made locally was not created on the server")
	}
	for name, n := range map[string]int{"user/alice/Lists": 2, "user/alice/Drafts": 1, "user/alice/INBOX": 2, "user/alice/Archive/2026": 1} {
		if got := c.MessageCount(name); got != n {
			t.Errorf("server %s has %d messages, want %d", name, got, n)
		}
	}
	// A third run has nothing left to do and must still succeed.
	run()
}

func deliver(t *testing.T, lmtpAddr, to string) {
	t.Helper()
	conn, err := net.Dial("tcp", lmtpAddr)
	if err != nil {
		t.Fatal(err)
	}
	cl := smtp.NewClientLMTP(conn)
	defer cl.Close()
	if err := cl.Hello("test"); err != nil {
		t.Fatal(err)
	}
	msg := fmt.Sprintf("From: s@example.org\r\nTo: %s\r\nSubject: for %s\r\nMessage-Id: <%s@test>\r\n\r\nbody\r\n", to, to, strings.ReplaceAll(to, "/", "."))
	if err := cl.SendMail("s@example.org", []string{to}, strings.NewReader(msg)); err != nil {
		t.Fatalf("deliver to %s: %v", to, err)
	}
}

func countMaildir(t *testing.T, path string) int {
	t.Helper()
	n := 0
	for _, sub := range []string{"cur", "new"} {
		entries, err := os.ReadDir(filepath.Join(path, sub))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		n += len(entries)
	}
	return n
}

func writeMaildirMessage(t *testing.T, folder, id string) {
	t.Helper()
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(folder, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	msg := "From: me@example.org\r\nSubject: " + id + "\r\nMessage-Id: <" + id + "@local>\r\n\r\nwritten locally\r\n"
	if err := os.WriteFile(filepath.Join(folder, "new", id+".eml"), []byte(msg), 0o600); err != nil {
		t.Fatal(err)
	}
}
