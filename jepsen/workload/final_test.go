package workload

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/rookery-mail/rookery/jepsen/history"
)

// deadAddr is an address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestFinalReadTriesEveryFrontend: with two frontends that refuse
// connections and one that serves, the final read of a mailbox succeeds
// whatever node the seed picks first, and is recorded once.
func TestFinalReadTriesEveryFrontend(t *testing.T) {
	mem := imapmemserver.New()
	u := imapmemserver.NewUser("u", "p")
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(u)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}},
		InsecureAuth: true,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	nodes := []Node{{Name: "n1", IMAP: deadAddr(t)}, {Name: "n2", IMAP: deadAddr(t)}, {Name: "n3", IMAP: ln.Addr().String()}}
	for seed := range 6 {
		rec := history.NewRecorder()
		env := NewEnv(nodes, "", rec, 0, int64(seed), slog.New(slog.NewTextHandler(io.Discard, nil)))
		if !finalRead(context.Background(), env, 300, "u/INBOX", "u", "p", "INBOX") {
			t.Fatalf("seed %d: final read failed with a serving frontend", seed)
		}
		var reads int
		for _, op := range rec.History() {
			if op.F == history.FRead && op.Outcome == history.OK {
				reads++
				if op.Node != "n3" {
					t.Errorf("seed %d: read recorded on %s", seed, op.Node)
				}
			}
		}
		if reads != 1 {
			t.Errorf("seed %d: %d successful reads recorded, want 1", seed, reads)
		}
	}
}
