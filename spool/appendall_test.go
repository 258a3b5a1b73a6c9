package spool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// appendAllOf is AppendAll of reqs, in order.
func appendAllOf(s *Store, mailbox uint64, admit func(int64) error, reqs ...AppendRequest) ([]Message, error) {
	i := 0
	return s.AppendAll(context.Background(), mailbox, func() (AppendRequest, bool, error) {
		if i == len(reqs) {
			return AppendRequest{}, false, nil
		}
		i++
		return reqs[i-1], true, nil
	}, admit)
}

func bodyReq(body string, flags ...imap.Flag) AppendRequest {
	return AppendRequest{Body: strings.NewReader(body), Size: int64(len(body)), Flags: flags}
}

// TestAppendAll: the messages of one AppendAll are stored together, with
// their own flags and dates and UIDs in order, small bodies and large.
func TestAppendAll(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustCreate(t, s, 1, 2, 1)
	date := time.Date(2024, 3, 1, 9, 30, 0, 0, time.FixedZone("", -5*3600))
	first := bodyReq(testBody(1), imap.FlagSeen)
	first.InternalDate = date
	got, err := appendAllOf(s, 1, nil, first, bodyReq(largeBody(2)), bodyReq(testBody(1), "$Work"))
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := s.Messages(1)
	if len(got) != 3 || len(msgs) != 3 {
		t.Fatalf("stored %d, mailbox holds %d, want 3", len(got), len(msgs))
	}
	for i, m := range msgs {
		if m.UID != got[i].UID || (i > 0 && m.UID <= msgs[i-1].UID) {
			t.Fatalf("UIDs %d: stored %+v, returned %+v", i, m, got[i])
		}
	}
	if !msgs[0].InternalDate.Equal(date) || len(msgs[0].Flags) != 1 || msgs[0].Flags[0] != imap.FlagSeen || msgs[2].Flags[0] != "$Work" {
		t.Fatalf("first and last: %+v %+v", msgs[0], msgs[2])
	}
	if msgs[1].Size != int64(len(largeBody(2))) || msgs[0].GUID != msgs[2].GUID {
		t.Fatalf("sizes and bodies: %+v", msgs)
	}
	st, _ := s.Status(1)
	if st.HighestModSeq != msgs[2].ModSeq {
		t.Fatalf("highest modseq %d, last message's %d", st.HighestModSeq, msgs[2].ModSeq)
	}
	mustVerify(t, s)
}

// TestAppendAllNone: when one message of an AppendAll fails (an invalid
// flag, a body cut short, too big, refused by admit, no mailbox), none
// is stored and no body is left behind.
func TestAppendAllNone(t *testing.T) {
	refuse := errors.New("over quota")
	for _, tc := range []struct {
		name  string
		last  func() AppendRequest
		admit func(int64) error
		want  error
	}{
		{"invalid flag", func() AppendRequest { return bodyReq(testBody(9), `\Bogus`) }, nil, ErrInvalidFlag},
		{"short small body", func() AppendRequest {
			r := bodyReq(testBody(9))
			r.Body = strings.NewReader(testBody(9)[:10])
			return r
		}, nil, ErrShortBody},
		{"short large body", func() AppendRequest {
			r := bodyReq(largeBody(9))
			r.Body = io.LimitReader(strings.NewReader(largeBody(9)), int64(len(largeBody(9))-1))
			return r
		}, nil, ErrShortBody},
		{"too big", func() AppendRequest { return bodyReq(strings.Repeat("x", 200_000)) }, nil, ErrTooBig},
		{"admit", func() AppendRequest { return bodyReq(testBody(9)) }, func(total int64) error {
			if total != int64(len(testBody(7))+len(largeBody(8))+len(testBody(9))) {
				return fmt.Errorf("total %d", total)
			}
			return refuse
		}, refuse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(Options{Dir: t.TempDir(), MaxMessageBytes: 100_000})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			mustCreate(t, s, 1, 1, 0)
			before, _ := s.Status(1)
			_, err = appendAllOf(s, 1, tc.admit, bodyReq(testBody(7)), bodyReq(largeBody(8)), tc.last())
			if !errors.Is(err, tc.want) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
			if after, _ := s.Status(1); after != before {
				t.Fatalf("status changed: %+v, was %+v", after, before)
			}
			keepsNothing(t, s)
			mustVerify(t, s)
		})
	}
	s := openStore(t, t.TempDir())
	if _, err := appendAllOf(s, 5, nil, bodyReq(testBody(1))); !errors.Is(err, ErrNoMailbox) {
		t.Fatalf("into no mailbox: %v", err)
	}
	keepsNothing(t, s)
}
