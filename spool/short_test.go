package spool

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestAppendShortBody: a body that ends before its announced size (a
// literal cut off when the client went away) is refused and leaves no
// message, no body file and no trace in the mailbox's state.
func TestAppendShortBody(t *testing.T) {
	for _, body := range []string{testBody(1), largeBody(1)} {
		t.Run(fmt.Sprint(len(body)), func(t *testing.T) { testAppendShortBody(t, body) })
	}
}

func testAppendShortBody(t *testing.T, body string) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustCreate(t, s, 1, 1, 0)
	before, _ := s.Status(1)
	_, err := s.Append(context.Background(), AppendRequest{Mailbox: 1, Body: strings.NewReader(body[:18]), Size: int64(len(body))})
	if !errors.Is(err, ErrShortBody) {
		t.Fatalf("append of 18 of %d bytes: %v, want ErrShortBody", len(body), err)
	}
	if Temporary(err) {
		t.Fatalf("a short body is not worth a retry of the same bytes: %v", err)
	}
	after, _ := s.Status(1)
	if after != before {
		t.Fatalf("status changed by a refused append: %+v, was %+v", after, before)
	}
	msgs, err := s.Messages(1)
	if err != nil || len(msgs) != 0 {
		t.Fatalf("messages after a refused append: %v %v", msgs, err)
	}
	keepsNothing(t, s)
	mustVerify(t, s)

	// The whole body, announced with its size, is stored; so is one
	// announced without a size.
	if m, err := s.Append(context.Background(), AppendRequest{Mailbox: 1, Body: strings.NewReader(body), Size: int64(len(body))}); err != nil || m.Size != int64(len(body)) {
		t.Fatalf("append of the whole body: %+v %v", m, err)
	}
	mustAppend(t, s, 1, testBody(2))
}
