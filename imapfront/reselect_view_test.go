package imapfront

import (
	"bufio"
	"bytes"
	"errors"
	"slices"
	"testing"
)

// The view follows what the client was told: EXISTS adds unknown tail
// entries, EXPUNGE removes by sequence number, SELECT names UIDVALIDITY.
func TestViewTracksResponses(t *testing.T) {
	v := &mboxView{}
	for _, line := range []string{
		"* 3 EXISTS", "* OK [UIDVALIDITY 42] UIDs valid", "* FLAGS (\\Seen)", "* 2 FETCH (FLAGS (\\Seen))",
	} {
		v.track([]byte(line))
	}
	if v.uidValidity != 42 || v.count() != 3 || v.unknown != 3 {
		t.Fatalf("after SELECT: %+v", v)
	}
	v.learn([]uint32{4, 6, 9})
	v.track([]byte("* 2 EXPUNGE"))
	v.track([]byte("* 4 exists"))
	if !slices.Equal(v.uids, []uint32{4, 9}) || v.unknown != 2 || v.top != 9 || v.broken != "" {
		t.Fatalf("after EXPUNGE and EXISTS: %+v", v)
	}
	v.track([]byte("* 4 EXPUNGE")) // an unknown one
	if v.count() != 3 || v.unknown != 1 {
		t.Fatalf("after expunging an unknown message: %+v", v)
	}
	v.learn([]uint32{8}) // below a known UID: the view no longer holds
	if v.broken == "" {
		t.Fatal("a UID below a known one was taken as new")
	}
}

func TestReconcile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		uids    []uint32
		unknown int
		list    []uint32
		tail    int
		said    string
		want    []uint32
		lost    bool
	}{
		{name: "same", uids: []uint32{1, 3}, list: []uint32{1, 3}, want: []uint32{1, 3}},
		{name: "new mail", uids: []uint32{1, 3}, list: []uint32{1, 3, 6, 8}, said: "* 4 EXISTS\r\n", want: []uint32{1, 3, 6, 8}},
		{name: "gone, highest first", uids: []uint32{1, 3, 5, 7}, list: []uint32{1, 7, 9},
			said: "* 3 EXPUNGE\r\n* 2 EXPUNGE\r\n* 3 EXISTS\r\n", want: []uint32{1, 7, 9}},
		{name: "unknown tail named", uids: []uint32{1}, unknown: 2, list: []uint32{1, 4, 6}, want: []uint32{1, 4, 6}},
		{name: "unknown tail still announced", uids: []uint32{1}, unknown: 2, list: []uint32{1, 4}, tail: 1, want: []uint32{1, 4}},
		{name: "new below known", uids: []uint32{1, 5}, list: []uint32{1, 3, 5}, lost: true},
		{name: "expunged one back", uids: []uint32{1}, list: []uint32{1, 2}, lost: true},
		{name: "announced missing", uids: []uint32{1}, unknown: 2, list: []uint32{1, 4}, lost: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			s := &session{bw: bufio.NewWriter(&out), log: testLogger(t)}
			v := &mboxView{id: 1, uids: tc.uids, unknown: tc.unknown, top: slices.Max(tc.uids)}
			if tc.name == "expunged one back" {
				v.top = 2 // the client had known UID 2 before it was expunged
			}
			nv, _, err := s.reconcile(v, tc.list, tc.tail)
			s.bw.Flush()
			if tc.lost {
				if !errors.Is(err, errViewLost) || out.Len() != 0 {
					t.Fatalf("err %v, said %q", err, out.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.said || !slices.Equal(nv.uids, tc.want) || nv.unknown != tc.tail {
				t.Fatalf("said %q, view %v+%d; want %q, %v+%d", out.String(), nv.uids, nv.unknown, tc.said, tc.want, tc.tail)
			}
		})
	}
}
