package imapd_test

import (
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/rookery-mail/rookery/backend/backendtest"
	"github.com/rookery-mail/rookery/fsm"
)

// Rights revoked while another user has the mailbox selected hold at that
// session's next command: no FETCH, SEARCH or COPY out after DELETEACL.
func TestRevokedRightsReachSelectedSession(t *testing.T) {
	env := backendtest.Start(t)
	env.AddUser("alice", "pw")
	env.AddUser("bob", "pw")
	alice := asUser(t, env, "alice", nil)
	if err := alice.Create("Team", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendMsg(t, alice, "Team", message("team news", "x"))
	env.Apply(fsm.SetACL{Name: "user/alice/Team", Identifier: "bob", Rights: "lr"})
	bob := asUser(t, env, "bob", nil)
	if _, err := bob.Select("Other Users/alice/Team", nil).Wait(); err != nil {
		t.Fatalf("select with lr: %v", err)
	}
	if _, err := bob.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect(); err != nil {
		t.Fatalf("fetch with lr: %v", err)
	}

	env.Apply(fsm.SetACL{Name: "user/alice/Team", Identifier: "bob", Rights: ""})
	if _, err := bob.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect(); err == nil {
		t.Fatal("FETCH after DELETEACL succeeded")
	}
	if _, err := bob.Search(&imap.SearchCriteria{}, nil).Wait(); err == nil {
		t.Fatal("SEARCH after DELETEACL succeeded")
	}
	if _, err := bob.Copy(imap.SeqSetNum(1), "INBOX").Wait(); err == nil {
		t.Fatal("COPY after DELETEACL succeeded")
	}
}
