package imapfront

import (
	"testing"
	"time"
)

// tm is a searched message for the threading tests: its number (also its
// place in the mailbox), the day of January 2006 it was sent, its subject,
// its Message-ID and its references.
func tm(num, day int, subject, id string, refs ...string) *sortMsg {
	base, reply := baseSubject(subject)
	return &sortMsg{num: uint32(num), uid: uint32(num), sent: time.Date(2006, 1, day, 12, 0, 0, 0, time.UTC),
		base: casemapKey(base), reply: reply, id: id, refs: refs}
}

func TestThreadReferences(t *testing.T) {
	for _, tc := range []struct {
		name string
		msgs []*sortMsg
		want string
	}{
		{
			// RFC 5256 section 4's first example: later messages are
			// parents of earlier ones, siblings go by sent date.
			name: "RFC 5256 section 4",
			msgs: []*sortMsg{
				tm(2, 1, "other", "<2@x>"),
				tm(3, 2, "talk", "<3@x>"),
				tm(4, 4, "Re: talk", "<4@x>", "<3@x>", "<6@x>"),
				tm(6, 3, "Re: talk", "<6@x>", "<3@x>"),
				tm(7, 7, "Re: talk", "<7@x>", "<3@x>", "<6@x>", "<44@x>"),
				tm(23, 6, "Re: talk", "<23@x>", "<3@x>", "<6@x>", "<4@x>"),
				tm(44, 5, "Re: talk", "<44@x>", "<3@x>", "<6@x>"),
				tm(96, 8, "Re: talk", "<96@x>", "<3@x>", "<6@x>", "<44@x>", "<7@x>"),
			},
			want: "THREAD (2)(3 6 (4 23)(44 7 96))",
		},
		{
			// Its second: two siblings of a parent not in the result.
			name: "siblings under a missing parent",
			msgs: []*sortMsg{tm(3, 1, "Re: lost", "<3@x>", "<gone@x>"), tm(5, 2, "Re: lost", "<5@x>", "<gone@x>")},
			want: "THREAD ((3)(5))",
		},
		{
			name: "a chain of missing parents is pruned away",
			msgs: []*sortMsg{tm(1, 1, "Re: far", "<1@x>", "<a@x>", "<b@x>", "<c@x>")},
			want: "THREAD (1)",
		},
		{
			name: "References that loop",
			msgs: []*sortMsg{tm(1, 1, "loop1", "<l1@x>", "<l2@x>"), tm(2, 2, "loop2", "<l2@x>", "<l1@x>")},
			want: "THREAD (2 1)", // Dovecot: (7 6) for the same two as 6 and 7
		},
		{
			name: "a message that refers to itself",
			msgs: []*sortMsg{tm(1, 1, "self", "<self@x>", "<self@x>")},
			want: "THREAD (1)",
		},
		{
			name: "a longer loop through three messages",
			msgs: []*sortMsg{
				tm(1, 1, "a", "<a@x>", "<c@x>"),
				tm(2, 2, "b", "<b@x>", "<a@x>"),
				tm(3, 3, "c", "<c@x>", "<b@x>"),
			},
			want: "THREAD (3 1 2)",
		},
		{
			// The first keeps the id; the second gets one of its own.
			name: "duplicate Message-IDs",
			msgs: []*sortMsg{tm(1, 1, "dup", "<dup@x>"), tm(2, 2, "dup", "<dup@x>"), tm(3, 3, "child of dup", "<cd@x>", "<dup@x>")},
			want: "THREAD ((1 3)(2))", // Dovecot: ((8 10)(9))
		},
		{
			name: "missing Message-IDs",
			msgs: []*sortMsg{tm(1, 1, "one", ""), tm(2, 2, "two", ""), tm(3, 3, "Re: two", "", "<nowhere@x>")},
			want: "THREAD (1)(2 3)", // 3 loses its missing parent, then goes under 2 by subject
		},
		{
			// Message 2's References named b as a's child; b's own
			// References say otherwise, and b's word wins (step 1B).
			name: "a truncated References corrected",
			msgs: []*sortMsg{tm(1, 1, "first", "<a@x>"), tm(2, 2, "second", "<c@x>", "<a@x>", "<b@x>"), tm(3, 3, "third", "<b@x>", "<z@x>")},
			want: "THREAD (1)(3 2)",
		},
		{
			name: "a reply by subject goes under the original",
			msgs: []*sortMsg{tm(1, 1, "hello", "<1@x>"), tm(2, 2, "Re: hello", "<2@x>")},
			want: "THREAD (1 2)",
		},
		{
			name: "the original comes after the reply",
			msgs: []*sortMsg{tm(1, 1, "Re: y", "<1@x>"), tm(2, 2, "y", "<2@x>")},
			want: "THREAD (2 1)",
		},
		{
			name: "two replies by subject become siblings",
			msgs: []*sortMsg{tm(1, 1, "Re: x", "<1@x>"), tm(2, 2, "Fwd: x", "<2@x>")},
			want: "THREAD ((1)(2))",
		},
		{
			name: "empty subjects are not gathered",
			msgs: []*sortMsg{tm(1, 1, "", "<1@x>"), tm(2, 2, "Re:", "<2@x>")},
			want: "THREAD (1)(2)",
		},
		{
			name: "two dummies with one subject become one",
			msgs: []*sortMsg{
				tm(1, 1, "Re: z", "<1@x>", "<m1@x>"), tm(2, 2, "Re: z", "<2@x>", "<m1@x>"),
				tm(3, 3, "Re: z", "<3@x>", "<m2@x>"), tm(4, 4, "Re: z", "<4@x>", "<m2@x>"),
			},
			want: "THREAD ((1)(2)(3)(4))",
		},
		{
			name: "a dummy takes a message of its subject",
			msgs: []*sortMsg{tm(1, 1, "Re: w", "<1@x>", "<m@x>"), tm(2, 2, "Re: w", "<2@x>", "<m@x>"), tm(3, 3, "w", "<3@x>")},
			want: "THREAD ((1)(2)(3))",
		},
		{
			name: "ties in sent date go by mailbox order",
			msgs: []*sortMsg{tm(1, 5, "b", "<1@x>"), tm(2, 5, "a", "<2@x>"), tm(3, 1, "c", "<3@x>")},
			want: "THREAD (3)(1)(2)",
		},
		{name: "nothing matched", want: "THREAD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := threadAnswer(threadReferences(tc.msgs)); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestThreadOrderedSubject(t *testing.T) {
	msgs := []*sortMsg{
		tm(1, 3, "a", ""), tm(2, 1, "Re: a", ""), tm(3, 2, "b", ""), tm(4, 4, "A", ""),
		tm(5, 5, "c", ""), tm(6, 6, "Re: c", ""), tm(7, 2, "", ""), tm(8, 7, "  ", ""),
	}
	// a's thread starts with its earliest message, 2, its others are 2's
	// children; one child is "n c", several "(c1)(c2)". Empty subjects
	// make a thread too, as in Dovecot.
	want := "THREAD (2 (1)(4))(3)(7 8)(5 6)"
	if got := threadAnswer(threadOrderedSubject(msgs)); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestSortMessages(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2006, 1, 2, h, 0, 0, 0, time.UTC) }
	msgs := []*sortMsg{
		{num: 1, uid: 1, base: "B", size: 10, sent: at(3), arrival: at(9), from: "ZED"},
		{num: 2, uid: 2, base: "A", size: 30, sent: at(1), arrival: at(8), from: ""},
		{num: 3, uid: 3, base: "B", size: 20, sent: at(2), arrival: at(7), from: "ALICE"},
		{num: 4, uid: 4, base: "A", size: 10, sent: at(1), arrival: at(6), from: "ALICE"},
	}
	for _, tc := range []struct {
		criteria []sortCriterion
		want     string
	}{
		{[]sortCriterion{{key: keySubject}}, "SORT 2 4 1 3"},
		{[]sortCriterion{{key: keySubject, reverse: true}}, "SORT 1 3 2 4"}, // ties stay in mailbox order
		{[]sortCriterion{{key: keySubject}, {key: keyDate, reverse: true}}, "SORT 2 4 1 3"},
		{[]sortCriterion{{key: keySubject, reverse: true}, {key: keyDate, reverse: true}}, "SORT 1 3 2 4"},
		{[]sortCriterion{{key: keySize}, {key: keyArrival}}, "SORT 4 1 3 2"},
		{[]sortCriterion{{key: keyFrom}}, "SORT 2 3 4 1"}, // "" first
		{[]sortCriterion{{key: keyDate}}, "SORT 2 4 3 1"},
		{[]sortCriterion{{key: keyArrival}}, "SORT 4 3 2 1"},
		{[]sortCriterion{{key: keyCc}, {key: keyTo}}, "SORT 1 2 3 4"},
	} {
		sortMessages(msgs, tc.criteria)
		if got := sortAnswer(msgs); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.criteria, got, tc.want)
		}
	}
}
