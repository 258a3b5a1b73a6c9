package imapd_test

import (
	"testing"
	"time"

	"github.com/rookery-mail/rookery/backend/backendtest"
	"github.com/rookery-mail/rookery/fsm"
)

// A session whose selected mailbox gets its primary copy on another backend
// (here by a directory-level move) is ended with BYE; a session with
// another mailbox selected is not.
func TestSessionEndsWhenMailboxMovesAway(t *testing.T) {
	env := backendtest.Start(t)
	env.AddUser("alice", "pw")
	env.AddUser("bob", "pw")
	env.Apply(fsm.BackendRegister{ID: "b2", IMAPAddr: "127.0.0.1:1", LMTPAddr: "127.0.0.1:2", Weight: 1, At: time.Now().UnixNano()})

	moving := asUser(t, env, "alice", nil)
	if _, err := moving.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	staying := asUser(t, env, "bob", nil)
	if _, err := staying.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}

	// The session is in IDLE when it is ended, as a client watching its
	// INBOX would be.
	idle, err := moving.Idle()
	if err != nil {
		t.Fatal(err)
	}
	idleDone := make(chan error, 1)
	go func() { idleDone <- idle.Wait() }()

	inbox, _ := readLocal(t, env.Dir).Mailbox(fsm.Inbox("alice"))
	env.Apply(fsm.MoveStart{Name: inbox.Name, MoveID: "m1", Target: "b2", At: time.Now().UnixNano()})
	env.Apply(fsm.MoveMark{Mailbox: inbox.ID, MoveID: "m1"})
	env.Apply(fsm.MoveSwitch{Mailbox: inbox.ID, MoveID: "m1", At: time.Now().UnixNano()})

	select {
	case <-idleDone:
	case <-time.After(30 * time.Second):
		t.Fatal("the IDLE on the moved mailbox did not end")
	}
	if err := moving.Noop().Wait(); err == nil {
		t.Fatal("the moved mailbox's session still answers")
	}
	if err := staying.Noop().Wait(); err != nil {
		t.Fatalf("the other session: %v", err)
	}
}
