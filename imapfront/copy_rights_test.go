package imapfront

import (
	"errors"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// A cross-backend MOVE out of a mailbox the user may read but not expunge
// from is refused before anything is copied: no copy is left behind, at
// the first try or any retry.
func TestCrossBackendMoveChecksRightsFirst(t *testing.T) {
	cl := startTestCluster(t, 2, 1)
	cl.addUser("alice", 0)
	cl.addUser("bob", 1)
	cl.createOn(0, "user/alice/Team", "")
	alice := login(t, cl.frontends[0], "alice", nil)
	appendMsg(t, alice, "Team", "team news", nil, time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC))
	if err := alice.SetACL("Team", "bob", imap.RightModificationReplace, imap.RightSet("lr")).Wait(); err != nil {
		t.Fatalf("SETACL: %v", err)
	}

	bob := login(t, cl.frontends[0], "bob", nil)
	if _, err := bob.Select("Other Users/alice/Team", nil).Wait(); err != nil {
		t.Fatalf("SELECT: %v", err)
	}
	for try := 0; try < 2; try++ {
		_, err := bob.Move(imap.SeqSetNum(1), "INBOX").Wait()
		var imapErr *imap.Error
		if !errors.As(err, &imapErr) || imapErr.Code != imap.ResponseCodeNoPerm {
			t.Fatalf("MOVE without t and e: %v, want NO [NOPERM]", err)
		}
	}
	st, err := bob.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 0 {
		t.Fatalf("bob's INBOX after the refused MOVEs: %+v %v", st, err)
	}
	if cd, err := bob.Copy(imap.SeqSetNum(1), "INBOX").Wait(); err != nil || len(cd.DestUIDs) == 0 {
		t.Fatalf("COPY with lr: %+v %v", cd, err)
	}
}
