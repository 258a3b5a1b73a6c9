package imapfront

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sortMsg is what SORT and THREAD know of one message that the search
// matched: the keys, already in the form they compare in.
type sortMsg struct {
	num     uint32    // what the answer names it by: sequence number or UID
	uid     uint32    // its place in the mailbox: UIDs ascend with sequence numbers
	arrival time.Time // INTERNALDATE
	sent    time.Time // the Date header, else INTERNALDATE (RFC 5256 section 2.2)
	size    int64     // RFC822.SIZE
	// base is the base subject (section 2.1), casemapped; reply says the
	// subject marked a reply or forward.
	base  string
	reply bool
	// from, to and cc are the addr-mailbox of the first address of each,
	// casemapped; "" when there is none.
	from, to, cc string
	// id is the normalised Message-ID, "" when there is no valid one;
	// refs are the references (section 3, REFERENCES).
	id   string
	refs []string
}

// sortKey is one of RFC 5256's sort criteria.
type sortKey int

const (
	keyArrival sortKey = iota
	keyCc
	keyDate
	keyFrom
	keySize
	keySubject
	keyTo
)

// sortCriterion is a key and whether REVERSE came before it.
type sortCriterion struct {
	key     sortKey
	reverse bool
}

// sortMessages orders msgs by the criteria in priority order. REVERSE
// turns one criterion round; messages that match on all of them keep the
// mailbox's order (section 3: the implicit last criterion is the sequence
// number, which is never reversed).
func sortMessages(msgs []*sortMsg, criteria []sortCriterion) {
	slices.SortFunc(msgs, func(a, b *sortMsg) int {
		for _, c := range criteria {
			r := compareKey(a, b, c.key)
			if c.reverse {
				r = -r
			}
			if r != 0 {
				return r
			}
		}
		return cmp.Compare(a.uid, b.uid)
	})
}

// compareKey compares two messages by one key. Strings are casemapped
// already, so they compare as octets; "" comes before any other string.
func compareKey(a, b *sortMsg, k sortKey) int {
	switch k {
	case keyArrival:
		return a.arrival.Compare(b.arrival)
	case keyCc:
		return strings.Compare(a.cc, b.cc)
	case keyDate:
		return a.sent.Compare(b.sent)
	case keyFrom:
		return strings.Compare(a.from, b.from)
	case keySize:
		return cmp.Compare(a.size, b.size)
	case keySubject:
		return strings.Compare(a.base, b.base)
	case keyTo:
		return strings.Compare(a.to, b.to)
	}
	return 0
}

// bySent orders by sent date, then mailbox order (section 2.2).
func bySent(a, b *sortMsg) int {
	if c := a.sent.Compare(b.sent); c != 0 {
		return c
	}
	return cmp.Compare(a.uid, b.uid)
}

// sortAnswer is the SORT response's data: the numbers in order.
func sortAnswer(msgs []*sortMsg) string {
	var b strings.Builder
	b.WriteString("SORT")
	for _, m := range msgs {
		b.WriteByte(' ')
		b.WriteString(strconv.FormatUint(uint64(m.num), 10))
	}
	return b.String()
}
