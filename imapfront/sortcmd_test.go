package imapfront

import (
	"bufio"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readTestCommand frames one command line as the session would.
func readTestCommand(t *testing.T, line string) *Command {
	t.Helper()
	cfg := Default()
	wr := newWireReader(bufio.NewReader(strings.NewReader(line+"\r\n")), cfg.wireLimits(false))
	cmd, err := wr.ReadCommand(func() error { return nil })
	if err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	return cmd
}

func TestParseSort(t *testing.T) {
	for _, tc := range []struct {
		line string
		want sortRequest
		keys string
	}{
		{line: "a SORT (SUBJECT) UTF-8 ALL", keys: "ALL",
			want: sortRequest{criteria: []sortCriterion{{key: keySubject}}}},
		{line: "a uid sort (reverse date subject) us-ascii SINCE 1-Feb-1994 NOT FROM \"x\"", keys: `SINCE 1-Feb-1994 NOT FROM "x"`,
			want: sortRequest{uid: true, criteria: []sortCriterion{{key: keyDate, reverse: true}, {key: keySubject}}}},
		{line: `a SORT RETURN (MIN COUNT) (ARRIVAL) "UTF-8" $`, keys: "$",
			want: sortRequest{ret: &esortReturn{min: true, count: true}, criteria: []sortCriterion{{key: keyArrival}}}},
		{line: "a SORT RETURN () (SIZE CC TO FROM) UTF-8 1:*", keys: "1:*",
			want: sortRequest{ret: &esortReturn{all: true}, criteria: []sortCriterion{{key: keySize}, {key: keyCc}, {key: keyTo}, {key: keyFrom}}}},
		{line: "a THREAD REFERENCES UTF-8 ALL", keys: "ALL", want: sortRequest{thread: "REFERENCES"}},
		{line: "a UID THREAD orderedsubject UTF-8 UNSEEN", keys: "UNSEEN", want: sortRequest{uid: true, thread: "ORDEREDSUBJECT"}},
	} {
		q, err := parseSort(readTestCommand(t, tc.line), false)
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		keys := string(readTestCommand(t, tc.line).Raw[q.keysAt:])
		if q.uid != tc.want.uid || q.thread != tc.want.thread || !slices.Equal(q.criteria, tc.want.criteria) ||
			(q.ret == nil) != (tc.want.ret == nil) || q.ret != nil && *q.ret != *tc.want.ret || keys != tc.keys+"\r\n" {
			t.Errorf("%q: %+v (ret %+v), keys %q", tc.line, q, q.ret, keys)
		}
	}
}

// Bad input is BAD (NO [BADCHARSET] for a charset), as Dovecot answers
// each of these but the charsets it converts.
func TestParseSortRefusals(t *testing.T) {
	for _, tc := range []struct {
		line string
		want error
	}{
		{"a SORT () UTF-8 ALL", ErrSyntax},
		{"a SORT (BOGUS) UTF-8 ALL", ErrSyntax},
		{"a SORT (DISPLAYFROM) UTF-8 ALL", ErrSyntax}, // SORT=DISPLAY is not offered
		{"a SORT (REVERSE) UTF-8 ALL", ErrSyntax},
		{"a SORT (DATE REVERSE) UTF-8 ALL", ErrSyntax},
		{"a SORT (REVERSE REVERSE DATE) UTF-8 ALL", ErrSyntax},
		{"a SORT SUBJECT UTF-8 ALL", ErrSyntax},
		{"a SORT ((SUBJECT)) UTF-8 ALL", ErrSyntax},
		{"a SORT (SUBJECT)", ErrSyntax},
		{"a SORT (SUBJECT) ALL", ErrSyntax}, // "ALL" read as the charset, no criteria after it
		{"a SORT (SUBJECT) UTF-8", ErrSyntax},
		{"a SORT (SUBJECT) UTF-8 ", ErrSyntax},
		{"a SORT (SUBJECT) UTF-8 BOGUSKEY", ErrSyntax}, // checked as SEARCH's keys are
		{"a SORT (SUBJECT) UTF-8 SUBJECT", ErrNoArgument},
		{"a SORT (SUBJECT) UTF-8 ALL)", ErrNoArgument},
		{"a SORT (SUBJECT) KOI8-R BOGUSKEY", ErrSyntax}, // what does not parse is BAD first
		{"a THREAD REFERENCES UTF-8 SINCE 32-Jan-2006", ErrSyntax},
		{"a SORT (SUBJECT) KOI8-R ALL", ErrBadCharset},
		{"a SORT (SUBJECT) ISO-8859-1 SUBJECT x", ErrBadCharset},
		{"a SORT RETURN (PARTIAL 1:2) (SUBJECT) UTF-8 ALL", ErrSyntax}, // CONTEXT=SORT is not offered
		{"a SORT RETURN (BOGUS) (SUBJECT) UTF-8 ALL", ErrSyntax},
		{"a SORT RETURN MIN (SUBJECT) UTF-8 ALL", ErrSyntax},
		{"a SORT", ErrSyntax},
		{"a THREAD BOGUS UTF-8 ALL", ErrSyntax},
		{"a THREAD REFERENCES UTF-8", ErrSyntax},
		{"a THREAD (REFERENCES) UTF-8 ALL", ErrSyntax},
		{"a THREAD REFERENCES KOI8-R ALL", ErrBadCharset},
		{"a THREAD", ErrSyntax},
	} {
		_, err := parseSort(readTestCommand(t, tc.line), false)
		if !errors.Is(err, tc.want) {
			t.Errorf("%q: %v, want %v", tc.line, err, tc.want)
			continue
		}
		status, code, text := classify(err)
		if tc.want == ErrBadCharset && (status != "NO" || code != "BADCHARSET (US-ASCII UTF-8)") ||
			tc.want == ErrSyntax && (status != "BAD" || !strings.HasPrefix(text, "syntax error: ")) ||
			tc.want == ErrNoArgument && status != "BAD" {
			t.Errorf("%q: answered %s [%s] %s", tc.line, status, code, text)
		}
	}
}

// The backend's FETCH responses, a literal subject and a header section
// included, become sort keys.
func TestSortKeysFromFetch(t *testing.T) {
	header := "Message-ID: <\"q\\\"1\"@x>\r\nReferences: <a@x> (see <no@x>)\r\n <b@x>\r\nIn-Reply-To: <c@x>\r\nReferences: <z@x>\r\n\r\n"
	resp := "* 3 FETCH (UID 17 ENVELOPE (\"Mon, 02 Jan 2006 15:04:05 -0700\" {13}\r\nRe: [l] hello" +
		" ((\"Zed\" NIL \"Zed\" \"x.org\")) NIL NIL ((NIL NIL \"group\" NIL)(NIL NIL \"b\" \"x.org\")(NIL NIL NIL NIL)) NIL NIL NIL \"<m@x>\")" +
		" INTERNALDATE \" 7-Feb-2006 10:00:00 +0000\" RFC822.SIZE 1234" +
		" BODY[HEADER.FIELDS (MESSAGE-ID IN-REPLY-TO REFERENCES)] {" + strconv.Itoa(len(header)) + "}\r\n" + header + ")\r\n"
	f, ok, err := parseFetch([]byte(resp))
	if !ok || err != nil || f.seq != 3 || !isSortData(f) {
		t.Fatalf("parseFetch: %+v %v %v", f, ok, err)
	}
	q := &sortRequest{thread: "REFERENCES"}
	m, err := q.message(f)
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Date(2006, 1, 2, 22, 4, 5, 0, time.UTC)
	if m.num != 3 || m.uid != 17 || !m.sent.Equal(sent) || m.size != 1234 || m.base != "HELLO" || !m.reply ||
		m.from != "ZED" || m.to != "GROUP" || m.cc != "" || m.id != `q"1@x` || !slices.Equal(m.refs, []string{"a@x", "b@x"}) {
		t.Errorf("%+v", m)
	}
	if want := time.Date(2006, 2, 7, 10, 0, 0, 0, time.UTC); !m.arrival.Equal(want) {
		t.Errorf("arrival %v", m.arrival)
	}
	q.uid = true
	if m, _ := q.message(f); m.num != 17 {
		t.Errorf("UID THREAD names the message %d", m.num)
	}

	// An update from another session is not sort data; a Date that does
	// not parse leaves the internal date.
	if f, ok, _ := parseFetch([]byte("* 3 FETCH (UID 17 FLAGS (\\Seen))\r\n")); !ok || isSortData(f) {
		t.Errorf("FLAGS update taken for sort data: %+v", f)
	}
	f, _, _ = parseFetch([]byte("* 1 FETCH (UID 1 ENVELOPE (\"garbage\" NIL NIL NIL NIL NIL NIL NIL NIL NIL) INTERNALDATE \"07-Feb-2006 10:00:00 +0100\")\r\n"))
	if m, err := (&sortRequest{}).message(f); err != nil || !m.sent.Equal(m.arrival) || m.base != "" {
		t.Errorf("%+v %v", m, err)
	}
	if _, ok, _ := parseFetch([]byte("* 4 EXPUNGE\r\n")); ok {
		t.Error("EXPUNGE read as FETCH")
	}
}

// Which ids count as references: those of References, else the first of
// In-Reply-To (RFC 5256 section 3).
func TestRefFields(t *testing.T) {
	m := &sortMsg{}
	m.readRefFields("In-Reply-To: message of Monday <x@y> and <z@y>\r\nMessage-ID: none\r\n\r\n")
	if m.id != "" || !slices.Equal(m.refs, []string{"x@y"}) {
		t.Errorf("%+v", m)
	}
	m = &sortMsg{}
	m.readRefFields("References: garbage\r\nIn-Reply-To: <p@q>\r\n\r\n")
	if !slices.Equal(m.refs, []string{"p@q"}) {
		t.Errorf("References without ids: refs %q", m.refs)
	}
}

func TestSplitSet(t *testing.T) {
	for _, tc := range []struct {
		set  string
		max  int
		want []string
	}{
		{"1:5", 16, []string{"1:5"}},
		{"1,3,5,7,9", 4, []string{"1,3", "5,7", "9"}},
		{"1,3,5,7,9", 5, []string{"1,3,5", "7,9"}},
		{"10:20,30,40:50", 3, []string{"10:20", "30", "40:50"}}, // an element longer than max stays whole
		{"123456", 3, []string{"123456"}},
	} {
		if got := splitSet(tc.set, tc.max); !slices.Equal(got, tc.want) {
			t.Errorf("splitSet(%q, %d) = %q, want %q", tc.set, tc.max, got, tc.want)
		}
	}
}

// ESORT's ALL is a sequence set in sort order: ascending runs as ranges,
// as Dovecot writes it (10:11,14:16,6:7,1:4,9,17,13,8,12,5).
func TestESearchAnswer(t *testing.T) {
	var msgs []*sortMsg
	for _, n := range []uint32{10, 11, 14, 15, 16, 6, 7, 1, 2, 3, 4, 9, 17, 13, 8, 12, 5, 3} {
		msgs = append(msgs, &sortMsg{num: n})
	}
	msgs = msgs[:17]
	all := &esortReturn{min: true, max: true, all: true, count: true}
	if got, want := esearchAnswer("a1", false, all, msgs, len(msgs)),
		`ESEARCH (TAG "a1") MIN 10 MAX 5 ALL 10:11,14:16,6:7,1:4,9,17,13,8,12,5 COUNT 17`; got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	desc := []*sortMsg{{num: 3}, {num: 2}, {num: 1}}
	if got, want := esearchAnswer("b", true, &esortReturn{all: true}, desc, 3), `ESEARCH (TAG "b") UID ALL 3,2,1`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got, want := esearchAnswer("c", false, all, nil, 0), `ESEARCH (TAG "c") COUNT 0`; got != want {
		t.Errorf("no match: got %s, want %s", got, want)
	}
}
