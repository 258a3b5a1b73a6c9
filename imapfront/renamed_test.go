package imapfront_test

import (
	"fmt"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/rookery-mail/rookery/internal/testcluster"
)

// TestSelectAfterRenameElsewhere: once RENAME a b is answered OK through
// one frontend, a SELECT of a through another finds no such mailbox, and
// a SELECT of b finds it, however far behind that frontend's copy of the
// directory runs. The jepsen model of RENAME caught a SELECT of the old
// name answered OK right after the rename.
func TestSelectAfterRenameElsewhere(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 2})
	c.AddUser("alice", 0)
	renamer := dialLogin(t, c.Frontends[0].IMAPAddr, nil)
	selector := dialLogin(t, c.Frontends[1].IMAPAddr, nil)
	for i := range 20 {
		from, to := fmt.Sprintf("old-%d", i), fmt.Sprintf("new-%d", i)
		if err := renamer.Create(from, nil).Wait(); err != nil {
			t.Fatalf("create %s: %v", from, err)
		}
		if err := renamer.Rename(from, to, nil).Wait(); err != nil {
			t.Fatalf("rename %s %s: %v", from, to, err)
		}
		if _, err := selector.Select(from, nil).Wait(); err == nil {
			t.Fatalf("round %d: SELECT %s answered OK after it was renamed to %s through another frontend", i, from, to)
		} else if ie, ok := err.(*imap.Error); !ok || ie.Code != imap.ResponseCodeNonExistent {
			t.Fatalf("round %d: SELECT %s: %v, want NONEXISTENT", i, from, err)
		}
		if _, err := selector.Select(to, nil).Wait(); err != nil {
			t.Fatalf("round %d: SELECT %s after the rename: %v", i, to, err)
		}
	}
}
