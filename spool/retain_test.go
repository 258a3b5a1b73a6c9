package spool

import (
	"fmt"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestRetain: a body retained from the Watch callback of its expunge
// keeps its file (and its envelope) after its last reference goes, until
// released.
func TestRetain(t *testing.T) {
	for _, body := range []string{testBody(1), largeBody(1)} {
		t.Run(fmt.Sprint(len(body)), func(t *testing.T) { testRetain(t, body) })
	}
}

func testRetain(t *testing.T, body string) {
	s := openStore(t, t.TempDir())
	if err := s.CreateMailbox(MailboxMeta{ID: 1, UIDValidity: 1, Stride: 1}); err != nil {
		t.Fatal(err)
	}
	m := mustAppend(t, s, 1, body, imap.FlagDeleted)
	var release func()
	stop := s.Watch(func(c Change) {
		if c.Kind == Expunged && len(c.Gone) == 1 {
			release = s.Retain(c.Gone[0].GUID)
		}
	})
	defer stop()
	if _, err := s.Expunge(1, nil); err != nil {
		t.Fatal(err)
	}
	if release == nil {
		t.Fatal("the expunge reported no record")
	}
	f, err := s.Body(m.GUID)
	if err != nil {
		t.Fatalf("retained body: %v", err)
	}
	f.Close()
	if env, err := s.Envelope(m.GUID); err != nil || env.Subject != "test 1" {
		t.Fatalf("envelope of a retained body: %v, %v", env, err)
	}
	release()
	waitFor(t, "the body to go after its release", func() bool {
		f, err := s.Body(m.GUID)
		if err == nil {
			f.Close()
		}
		return err != nil
	})
}
