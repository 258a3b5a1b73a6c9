package imapfront

import (
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func login(t *testing.T, addr, user string, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, "secret").Wait(); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

func appendMsg(t *testing.T, c *imapclient.Client, mailbox, subject string, flags []imap.Flag, date time.Time) *imap.AppendData {
	t.Helper()
	body := "From: a@example.org\r\nSubject: " + subject + "\r\n\r\nbody of " + subject + "\r\n"
	cmd := c.Append(mailbox, int64(len(body)), &imap.AppendOptions{Flags: flags, Time: date})
	if _, err := cmd.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := cmd.Wait()
	if err != nil {
		t.Fatalf("APPEND to %s: %v", mailbox, err)
	}
	return data
}

func listNames(t *testing.T, c *imapclient.Client) string {
	t.Helper()
	boxes, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range boxes {
		names = append(names, b.Mailbox)
	}
	return strings.Join(names, ",")
}

type fetched struct {
	flags []imap.Flag
	date  time.Time
	body  string
}

func fetchAll(t *testing.T, c *imapclient.Client, mailbox string) map[string]fetched {
	t.Helper()
	if _, err := c.Select(mailbox, nil).Wait(); err != nil {
		t.Fatalf("SELECT %s: %v", mailbox, err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1, 2, 3, 4, 5, 6, 7, 8, 9), &imap.FetchOptions{
		Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatalf("FETCH in %s: %v", mailbox, err)
	}
	out := map[string]fetched{}
	for _, m := range msgs {
		var body string
		for _, b := range m.BodySection {
			body = string(b.Bytes)
		}
		subject := strings.TrimSpace(strings.SplitN(strings.SplitN(body, "Subject: ", 2)[1], "\r\n", 2)[0])
		out[subject] = fetched{flags: m.Flags, date: m.InternalDate, body: body}
	}
	return out
}

func hasFlag(flags []imap.Flag, f imap.Flag) bool {
	for _, x := range flags {
		if strings.EqualFold(string(x), string(f)) {
			return true
		}
	}
	return false
}

// TestClusterCommands runs every routed command through a frontend against
// a cluster whose folders are spread over two backends.
func TestClusterCommands(t *testing.T) {
	cl := startTestCluster(t, 2, 2)
	cl.addUser("alice", 0)
	cl.createOn(1, "user/alice/Archive", "")
	cl.createOn(0, "user/alice/Sent", `\Sent`)

	var exists atomic.Int32 // EXISTS updates, counted on the client's reader goroutine
	c := login(t, cl.frontends[0], "alice", &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists.Add(1)
			}
		},
	}})
	if got := listNames(t, c); got != "Archive,INBOX,Sent" {
		t.Fatalf("LIST: %s", got)
	}
	if err := c.Create("Work", nil).Wait(); err != nil {
		t.Fatalf("CREATE: %v", err)
	}
	if err := c.Create("Work", nil).Wait(); err == nil {
		t.Fatal("second CREATE of one name succeeded")
	}
	if _, err := c.Select("Work", nil).Wait(); err != nil {
		t.Fatalf("SELECT after CREATE: %v", err)
	}
	date := time.Date(2024, 3, 5, 10, 11, 12, 0, time.UTC)
	for i, subj := range []string{"one", "two", "three"} {
		flags := []imap.Flag{imap.FlagFlagged}
		if i == 1 {
			flags = append(flags, "$Custom")
		}
		d := appendMsg(t, c, "INBOX", subj, flags, date.Add(time.Duration(i)*time.Hour))
		if d.UID == 0 || d.UIDValidity == 0 {
			t.Fatalf("APPEND returned no APPENDUID: %+v", d)
		}
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 3 {
		t.Fatalf("SELECT INBOX: %+v %v", sel, err)
	}
	if _, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect(); err != nil {
		t.Fatalf("STORE: %v", err)
	}
	sr, err := c.Search(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
	if err != nil || len(sr.AllSeqNums()) != 1 {
		t.Fatalf("SEARCH SEEN: %+v %v", sr, err)
	}

	// Cross-backend COPY (INBOX on b1, Archive on b2) and same-backend COPY.
	cd, err := c.Copy(imap.SeqSetNum(1, 2), "Archive").Wait()
	if err != nil || cd.UIDValidity == 0 || len(cd.DestUIDs) == 0 || len(cd.SourceUIDs) == 0 {
		t.Fatalf("cross-backend COPY: %+v %v", cd, err)
	}
	if cd, err := c.Copy(imap.SeqSetNum(3), "Sent").Wait(); err != nil || cd.UIDValidity == 0 {
		t.Fatalf("same-backend COPY: %+v %v", cd, err)
	}
	md, err := c.Move(imap.SeqSetNum(3), "Archive").Wait()
	if err != nil || md.UIDValidity == 0 || md.DestUIDs == nil {
		t.Fatalf("cross-backend MOVE: %+v %v", md, err)
	}
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 2 {
		t.Fatalf("STATUS INBOX after MOVE: %+v %v", st, err)
	}
	archive := fetchAll(t, c, "Archive")
	if len(archive) != 3 {
		t.Fatalf("Archive holds %d messages, want 3", len(archive))
	}
	for i, subj := range []string{"one", "two", "three"} {
		m := archive[subj]
		if !m.date.Equal(date.Add(time.Duration(i)*time.Hour)) || !hasFlag(m.flags, imap.FlagFlagged) || !strings.Contains(m.body, "body of "+subj) {
			t.Fatalf("copied message %s: %+v", subj, m)
		}
	}
	if !hasFlag(archive["one"].flags, imap.FlagSeen) || !hasFlag(archive["two"].flags, "$Custom") {
		t.Fatalf("flags not kept: %+v", archive)
	}

	// IDLE sees a message appended through the other frontend.
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	exists.Store(0)
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	other := login(t, cl.frontends[1], "alice", nil)
	appendMsg(t, other, "INBOX", "four", nil, date)
	waitFor(t, "EXISTS during IDLE", func() bool { return exists.Load() > 0 })
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatalf("IDLE: %v", err)
	}

	if _, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if exp, err := c.Expunge().Collect(); err != nil || len(exp) != 1 {
		t.Fatalf("EXPUNGE: %v %v", exp, err)
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Fatalf("UNSELECT: %v", err)
	}
	if err := c.Delete("Work").Wait(); err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	if err := c.Rename("Archive", "Old/Archive", nil).Wait(); err != nil {
		t.Fatalf("RENAME: %v", err)
	}
	if got := listNames(t, c); got != "INBOX,Old,Old/Archive,Sent" {
		t.Fatalf("LIST after DELETE and RENAME: %s", got)
	}
	if _, err := c.Select("Old/Archive", nil).Wait(); err != nil {
		t.Fatalf("SELECT renamed: %v", err)
	}
	if _, err := c.Select("Work", nil).Wait(); err == nil {
		t.Fatal("SELECT of a deleted mailbox succeeded")
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
}

// Read-your-writes across frontends: CREATE through one, SELECT through
// the other at once, with no wait in between.
func TestCreateThenSelectElsewhere(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 50
	}
	cl := startTestCluster(t, 2, 2)
	cl.addUser("alice", 0)
	c1 := login(t, cl.frontends[0], "alice", nil)
	c2 := login(t, cl.frontends[1], "alice", nil)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("f%d", i)
		if err := c1.Create(name, nil).Wait(); err != nil {
			t.Fatalf("CREATE %s: %v", name, err)
		}
		if _, err := c2.Select(name, nil).Wait(); err != nil {
			t.Fatalf("SELECT %s on the other frontend after %d successes: %v", name, i, err)
		}
	}
}

func TestClusterPythonImaplib(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	cl := startTestCluster(t, 2, 1)
	cl.addUser("alice", 0)
	cl.createOn(1, "user/alice/Archive", "")
	host, port, _ := strings.Cut(cl.frontends[0], ":")
	script := fmt.Sprintf(`
import imaplib, time
c = imaplib.IMAP4(%q, %s)
c.login('alice', 'secret')
typ, data = c.list()
names = sorted(d.decode().split(' "/" ')[1].strip('"') for d in data)
assert names == ['Archive', 'INBOX'], names
assert c.create('Projekt/Entw&APw-rfe')[0] == 'OK'
typ, data = c.list('""', 'Projekt/*')
assert b'Entw&APw-rfe' in data[0], data
msg = b'Subject: hi\r\n\r\nhello\r\n'
typ, data = c.append('INBOX', r'(\Flagged)', imaplib.Time2Internaldate(time.time()), msg)
assert typ == 'OK' and b'APPENDUID' in data[0], data
typ, data = c.select('INBOX')
assert data == [b'1'], data
typ, data = c.fetch('1', '(FLAGS BODY.PEEK[])')
assert b'hello' in data[0][1], data
typ, data = c.copy('1', 'Archive')
assert typ == 'OK' and b'COPYUID' in data[0], data
typ, data = c.status('Archive', '(MESSAGES)')
assert b'MESSAGES 1' in data[0], data
assert c.subscribe('Archive')[0] == 'OK'
typ, data = c.lsub()
assert b'Archive' in data[0], data
typ, data = c.store('1', '+FLAGS', r'(\Deleted)')
typ, data = c.expunge()
assert data == [b'1'], data
c.close()
assert c.delete('Projekt/Entw&APw-rfe')[0] == 'OK'
c.logout()
print('ok')
`, host, port)
	out, err := exec.Command(py, "-c", script).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
}
