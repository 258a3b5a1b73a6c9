package backend_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rookery-mail/rookery/internal/clusterapi"
	"github.com/rookery-mail/rookery/internal/condstore"
	"github.com/rookery-mail/rookery/internal/testcluster"
	"github.com/rookery-mail/rookery/spool"
)

// The CONDSTORE routes read and change flags on the backend that holds a
// mailbox, and refuse what they cannot do with an error the caller can
// tell: a write on a backend that is not the primary, a mailbox the spool
// lacks, ranges out of order, an unknown operation.
func TestCondstoreRoutes(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2})
	m := c.Create(0, "user/alice/Box")
	st := c.Backends[0].Store
	for i := range 3 {
		if _, err := st.Append(testcluster.Ctx(t), spool.AppendRequest{Mailbox: m.ID, Body: strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\nx\r\n", i))}); err != nil {
			t.Fatal(err)
		}
	}
	api := condstore.Remote{API: clusterapi.NewClient(testcluster.Secret, nil, false, nil)}
	b1, b2 := c.Backends[0].Node.APIAddr(), c.Backends[1].Node.APIAddr()
	ctx := testcluster.Ctx(t)

	all := []condstore.Range{{First: 1, Last: 1 << 31}}
	r, err := api.Read(ctx, b1, m.ID, condstore.ReadRequest{UIDs: all})
	if err != nil || len(r.Messages) != 3 || r.HighestModSeq == 0 {
		t.Fatalf("read: %+v, %v", r, err)
	}
	uid := r.Messages[1].UID
	stored, err := api.Store(ctx, b1, m.ID, condstore.StoreRequest{UIDs: []uint32{uid}, Op: condstore.OpAdd, Flags: []string{`\Flagged`}})
	if err != nil || len(stored.Messages) != 1 || stored.Messages[0].ModSeq <= r.HighestModSeq || len(stored.Failed) != 0 {
		t.Fatalf("store: %+v, %v", stored, err)
	}
	again, err := api.Store(ctx, b1, m.ID, condstore.StoreRequest{UIDs: []uint32{uid}, Op: condstore.OpDel,
		Flags: []string{`\Flagged`}, UnchangedSince: r.HighestModSeq})
	if err != nil || len(again.Failed) != 1 || again.Failed[0] != uid {
		t.Fatalf("a store unchanged since before the last change: %+v, %v", again, err)
	}
	changed, err := api.Read(ctx, b1, m.ID, condstore.ReadRequest{UIDs: all, Since: r.HighestModSeq})
	if err != nil || len(changed.Messages) != 1 || changed.Messages[0].UID != uid || changed.Messages[0].Flags[0] != `\Flagged` {
		t.Fatalf("read of what changed: %+v, %v", changed, err)
	}

	for _, tc := range []struct {
		what string
		err  error
		call func() error
	}{
		{"a store on a backend that is not the primary", condstore.ErrNotPrimary, func() error {
			_, err := api.Store(ctx, b2, m.ID, condstore.StoreRequest{UIDs: []uint32{uid}, Op: condstore.OpAdd, Flags: []string{`\Seen`}})
			return err
		}},
		{"a read of a mailbox the spool lacks", condstore.ErrNoMailbox, func() error {
			_, err := api.Read(ctx, b2, m.ID, condstore.ReadRequest{UIDs: all})
			return err
		}},
		{"ranges out of order", condstore.ErrInvalid, func() error {
			_, err := api.Read(ctx, b1, m.ID, condstore.ReadRequest{UIDs: []condstore.Range{{First: 5, Last: 9}, {First: 1, Last: 2}}})
			return err
		}},
		{"an unknown operation", condstore.ErrInvalid, func() error {
			_, err := api.Store(ctx, b1, m.ID, condstore.StoreRequest{UIDs: []uint32{uid}, Op: "toggle"})
			return err
		}},
		{"an invalid flag", condstore.ErrInvalid, func() error {
			_, err := api.Store(ctx, b1, m.ID, condstore.StoreRequest{UIDs: []uint32{uid}, Op: condstore.OpAdd, Flags: []string{"bad flag"}})
			return err
		}},
	} {
		if err := tc.call(); !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.what, err, tc.err)
		}
	}
	// Nothing of the refused calls changed the message.
	after, err := api.Read(ctx, b1, m.ID, condstore.ReadRequest{UIDs: []condstore.Range{{First: uid, Last: uid}}})
	if err != nil || len(after.Messages) != 1 || after.Messages[0].ModSeq != stored.Messages[0].ModSeq {
		t.Fatalf("after the refused calls: %+v, %v", after, err)
	}
}
