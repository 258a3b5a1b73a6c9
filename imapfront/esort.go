package imapfront

import (
	"strconv"
	"strings"
)

// esortReturn is ESORT's RETURN options (RFC 5267 section 3, and SAVE from
// RFC 5182).
type esortReturn struct {
	min, max, all, count, save bool
}

// countOnly: nothing asked for needs the messages' order.
func (r *esortReturn) countOnly() bool { return !r.min && !r.max && !r.all }

// esearchAnswer is the ESEARCH response to SORT RETURN: MIN and MAX are the
// first and last message in sort order, ALL the numbers in sort order as a
// sequence set (a run of consecutive ascending numbers as a range), COUNT
// how many. Without a match, MIN, MAX and ALL are left out (RFC 4731
// section 3.1). Items come in Dovecot's order.
func esearchAnswer(tag string, uid bool, r *esortReturn, msgs []*sortMsg, count int) string {
	var b strings.Builder
	b.WriteString(`ESEARCH (TAG "` + tag + `")`)
	if uid {
		b.WriteString(" UID")
	}
	if len(msgs) > 0 {
		if r.min {
			b.WriteString(" MIN " + strconv.FormatUint(uint64(msgs[0].num), 10))
		}
		if r.max {
			b.WriteString(" MAX " + strconv.FormatUint(uint64(msgs[len(msgs)-1].num), 10))
		}
		if r.all {
			b.WriteString(" ALL " + orderedSet(msgs))
		}
	}
	if r.count {
		b.WriteString(" COUNT " + strconv.Itoa(count))
	}
	return b.String()
}

// orderedSet writes the numbers of msgs, in their order, as a sequence
// set: a run of numbers each one above the last becomes "a:b". A
// descending run stays a list, since "b:a" would not say which comes
// first.
func orderedSet(msgs []*sortMsg) string {
	var b strings.Builder
	for i := 0; i < len(msgs); {
		j := i
		for j+1 < len(msgs) && msgs[j+1].num == msgs[j].num+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(msgs[i].num), 10))
		if j > i {
			b.WriteString(":" + strconv.FormatUint(uint64(msgs[j].num), 10))
		}
		i = j + 1
	}
	return b.String()
}
