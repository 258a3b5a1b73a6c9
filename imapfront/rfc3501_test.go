package imapfront

import (
	"strings"
	"testing"
	"time"
)

// MOVE to a mailbox on another backend sends `* OK [COPYUID ...] text`:
// the response code is followed by text, as resp-text requires.
func TestMoveAcrossBackendsCopyUIDHasText(t *testing.T) {
	cl := startTestCluster(t, 2, 1)
	cl.addUser("alice", 0)
	cl.createOn(1, "user/alice/Archive", "")
	c := login(t, cl.frontends[0], "alice", nil)
	appendMsg(t, c, "INBOX", "one", nil, time.Now())

	raw := dialRaw(t, cl.frontends[0])
	raw.send("a LOGIN alice secret\r\n")
	raw.until("a OK")
	raw.send("b SELECT INBOX\r\n")
	raw.until("b OK")
	raw.send("c MOVE 1 Archive\r\n")
	var copyUID string
	for {
		l := raw.line()
		if strings.HasPrefix(l, "* OK [COPYUID") {
			copyUID = l
		}
		if strings.HasPrefix(l, "c ") {
			if !strings.HasPrefix(l, "c OK") {
				t.Fatalf("MOVE: %q", l)
			}
			break
		}
	}
	end := strings.Index(copyUID, "]")
	if end < 0 || strings.TrimSpace(copyUID[end+1:]) == "" {
		t.Fatalf("untagged COPYUID missing or without text: %q", copyUID)
	}
}
