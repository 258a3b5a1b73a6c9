package checker

import (
	"fmt"
	"sort"

	"github.com/rookery-mail/rookery/jepsen/history"
)

// Acknowledged checks invariant 5: after the cluster heals, a final read of
// every mailbox finds each acknowledged message (LMTP 250, APPEND OK)
// exactly once. Each delivery or APPEND attempt carries its own Message-ID.
//
// Counts: lost (acknowledged, not found), duplicated (found more than once,
// whatever the outcome), unexpected (found, never attempted), and for
// attempts whose outcome was unknown, how many were found and how many not.
// Lost, duplicated or unexpected messages make the history invalid; a
// mailbox with acknowledged writes but no final read makes it unknown.
type Acknowledged struct{}

var _ Checker = Acknowledged{}

// Name implements Checker.
func (Acknowledged) Name() string { return "acknowledged" }

// delivery is the strongest outcome of one message's attempts.
type delivery struct {
	f       string // history.FDeliver or history.FAppend
	outcome history.Outcome
	op      int
}

// Check implements Checker.
func (c Acknowledged) Check(h history.History) Result {
	b := newBuilder(c.Name())
	for _, k := range []string{"lost", "duplicated", "unexpected"} {
		b.count(k, 0)
	}
	attempts, reads := attemptsAndReads(h)
	mailboxes := make([]string, 0, len(attempts))
	for mb := range attempts {
		mailboxes = append(mailboxes, mb)
	}
	for mb := range reads {
		if _, ok := attempts[mb]; !ok {
			mailboxes = append(mailboxes, mb)
		}
	}
	sort.Strings(mailboxes)
	unread := 0
	for _, mb := range mailboxes {
		read, ok := reads[mb]
		if !ok {
			unread++
			continue
		}
		tallyMailbox(b, mb, attempts[mb], read)
	}
	b.count("mailboxes_unread", unread)
	r := b.result(len(reads), "no final reads")
	if r.Valid == Valid && unread > 0 {
		r.Valid = Unknown
		r.Note = fmt.Sprintf("%d mailboxes with deliveries had no final read", unread)
	}
	return r
}

// attemptsAndReads gathers, per mailbox, the strongest outcome of each
// Message-ID's deliveries and APPENDs (ok over info over fail) and the last
// successful final read.
func attemptsAndReads(h history.History) (map[string]map[string]delivery, map[string]history.Op) {
	rank := map[history.Outcome]int{history.Fail: 0, history.Info: 1, history.OK: 2}
	attempts := make(map[string]map[string]delivery)
	reads := make(map[string]history.Op)
	for _, op := range h {
		switch {
		case op.F == history.FDeliver || op.F == history.FAppend:
			if attempts[op.Key] == nil {
				attempts[op.Key] = make(map[string]delivery)
			}
			d, ok := attempts[op.Key][op.Value.MessageID]
			if !ok || rank[op.Outcome] > rank[d.outcome] {
				attempts[op.Key][op.Value.MessageID] = delivery{op.F, op.Outcome, op.Index}
			}
		case op.F == history.FRead && op.Outcome == history.OK:
			if prev, ok := reads[op.Key]; !ok || op.Invoke > prev.Invoke {
				reads[op.Key] = op
			}
		}
	}
	return attempts, reads
}

func tallyMailbox(b *builder, mb string, attempts map[string]delivery, read history.Op) {
	found := make(map[string]int)
	for _, m := range read.Value.Messages {
		found[m.MessageID]++
	}
	ids := make([]string, 0, len(attempts))
	for id := range attempts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		d, n := attempts[id], found[id]
		ops := []int{d.op, read.Index}
		switch {
		case n > 1:
			b.anomaly(Anomaly{Kind: "duplicated", Key: mb, Ops: ops, Detail: fmt.Sprintf("%s found %d times (%s %s)", id, n, d.f, d.outcome)})
		case d.outcome == history.OK && n == 0:
			b.anomaly(Anomaly{Kind: "lost", Key: mb, Ops: ops, Detail: fmt.Sprintf("%s acknowledged but not found", id)})
		case d.outcome == history.OK:
			b.count("acknowledged_found", 1)
		case d.outcome == history.Info && n == 0:
			b.count("unknown_absent", 1)
		case d.outcome == history.Info:
			b.count("unknown_found", 1)
		case n == 1:
			b.count("failed_found", 1)
		default:
			b.count("failed_absent", 1)
		}
	}
	for _, m := range read.Value.Messages {
		if _, ok := attempts[m.MessageID]; !ok {
			b.anomaly(Anomaly{Kind: "unexpected", Key: mb, Ops: []int{read.Index}, Detail: fmt.Sprintf("%s at uid %d was never delivered or appended", m.MessageID, m.UID)})
		}
	}
	b.count("attempted", len(attempts))
}
