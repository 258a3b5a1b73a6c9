package pop3front_test

import (
	"encoding/json"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/testcluster"
)

// poplibScript drives a session with python's poplib and prints what it
// saw as JSON; the second session (after QUIT) shows what UPDATE did.
const poplibScript = `
import json, poplib, sys
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
out = {}
p = poplib.POP3(host, port, timeout=30)
out["capa"] = sorted(p.capa().keys())
p.user(user)
p.pass_(pw)
out["stat"] = list(p.stat())
out["list"] = [l.decode() for l in p.list()[1]]
out["uidl"] = [l.decode() for l in p.uidl()[1]]
out["uidl2"] = p.uidl(2).decode()
out["retr1"] = [l.decode() for l in p.retr(1)[1]]
out["top2"] = [l.decode() for l in p.top(2, 0)[1]]
p.dele(1)
p.rset()
p.dele(2)
try:
    p.retr(2)
    out["retr_deleted"] = "ok"
except poplib.error_proto as e:
    out["retr_deleted"] = str(e)
out["stat_after_dele"] = list(p.stat())
p.noop()
p.quit()
p = poplib.POP3(host, port, timeout=30)
p.user(user)
p.pass_(pw)
out["stat_next"] = list(p.stat())
out["uidl_next"] = [l.decode() for l in p.uidl()[1]]
p.quit()
print(json.dumps(out))
`

func TestPoplib(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	c.AddUser("alice", 0)
	f := c.Frontends[0]
	appendMessages(t, imapLogin(t, f.IMAPAddr, "alice"), "one", "two", "three")
	host, port, _ := net.SplitHostPort(f.POP3Addr)
	raw, err := exec.Command(py, "-c", poplibScript, host, port, "alice", testcluster.Password).CombinedOutput()
	if err != nil {
		t.Fatalf("poplib: %v\n%s", err, raw)
	}
	var got struct {
		Capa          []string `json:"capa"`
		Stat          []int64  `json:"stat"`
		List          []string `json:"list"`
		UIDL          []string `json:"uidl"`
		UIDL2         string   `json:"uidl2"`
		Retr1         []string `json:"retr1"`
		Top2          []string `json:"top2"`
		RetrDeleted   string   `json:"retr_deleted"`
		StatAfterDele []int64  `json:"stat_after_dele"`
		StatNext      []int64  `json:"stat_next"`
		UIDLNext      []string `json:"uidl_next"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("poplib output %q: %v", raw, err)
	}
	size := func(subjects ...string) (n int64) {
		for _, s := range subjects {
			n += int64(len(messageBody(s)))
		}
		return n
	}
	for _, want := range []string{"TOP", "UIDL", "USER", "SASL", "RESP-CODES", "PIPELINING"} {
		if !slices.Contains(got.Capa, want) {
			t.Errorf("CAPA %v lacks %s", got.Capa, want)
		}
	}
	if want := []int64{3, size("one", "two", "three")}; !slices.Equal(got.Stat, want) {
		t.Errorf("STAT %v, want %v", got.Stat, want)
	}
	if len(got.List) != 3 || got.List[2] != "3 "+itoa(size("three")) {
		t.Errorf("LIST %v", got.List)
	}
	mb, _ := testcluster.Local(t, f.Node).Mailbox(fsm.Inbox("alice"))
	if len(got.UIDL) != 3 || !strings.HasPrefix(got.UIDL[0], "1 "+itoa(int64(mb.UIDValidity))+".") {
		t.Errorf("UIDL %v, want ids of UIDVALIDITY %d", got.UIDL, mb.UIDValidity)
	}
	if got.UIDL2 != "+OK "+got.UIDL[1] {
		t.Errorf("UIDL 2 = %q, want +OK %s", got.UIDL2, got.UIDL[1])
	}
	if want := strings.Split(strings.TrimSuffix(messageBody("one"), "\r\n"), "\r\n"); !slices.Equal(got.Retr1, want) {
		t.Errorf("RETR 1 = %q, want %q", got.Retr1, want)
	}
	if want := []string{"From: a@example.org", "Subject: two", ""}; !slices.Equal(got.Top2, want) {
		t.Errorf("TOP 2 0 = %q, want %q", got.Top2, want)
	}
	if !strings.Contains(got.RetrDeleted, "-ERR") {
		t.Errorf("RETR of a deleted message: %q", got.RetrDeleted)
	}
	if !slices.Equal(got.StatAfterDele, []int64{2, size("one", "three")}) {
		t.Errorf("STAT after DELE 2 = %v", got.StatAfterDele)
	}
	// UPDATE expunged message 2 only (RSET undid DELE 1), and the others
	// kept their ids.
	if !slices.Equal(got.StatNext, []int64{2, size("one", "three")}) {
		t.Errorf("STAT of the next session = %v", got.StatNext)
	}
	if want := []string{got.UIDL[0], "2 " + uidOf(got.UIDL[2])}; !slices.Equal(got.UIDLNext, want) {
		t.Errorf("UIDL of the next session = %v, want %v", got.UIDLNext, want)
	}
	if n := inboxCount(t, f.IMAPAddr, "alice"); n != 2 {
		t.Errorf("IMAP sees %d messages after the POP3 QUIT, want 2", n)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// uidOf is the unique id of a UIDL line "n id".
func uidOf(line string) string {
	_, id, _ := strings.Cut(line, " ")
	return id
}
