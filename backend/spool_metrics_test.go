package backend_test

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/rookery-mail/rookery/internal/node"
	"github.com/rookery-mail/rookery/internal/testcluster"
	"github.com/rookery-mail/rookery/spool"
)

// spoolFigures reads a node's rookery_spool_* gauges from its /metrics.
func spoolFigures(t *testing.T, b *testcluster.Backend) (spool.Stats, bool) {
	t.Helper()
	resp, err := http.Get("http://" + b.Host.Addr(node.ListenAdmin) + "/metrics")
	if err != nil {
		return spool.Stats{}, false
	}
	defer resp.Body.Close()
	var s spool.Stats
	found := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		name, _, _ = strings.Cut(name, "{")
		n, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		switch name {
		case "rookery_spool_mailboxes":
			s.Mailboxes, found = int64(n), found+1
		case "rookery_spool_messages":
			s.Messages, found = int64(n), found+1
		case "rookery_spool_bytes":
			s.Bytes, found = int64(n), found+1
		}
	}
	return s, found == 3
}

// TestSpoolMetricsOnPrimaryAndReplica: /metrics on the primary and on its
// replica count a mailbox once each through create, delivery, a replica
// down and restarted, and delete, never below zero, and bytes whenever
// there are messages.
func TestSpoolMetricsOnPrimaryAndReplica(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, ReplicationFactor: 2})
	p, r := c.Backends[0], c.Backends[1]
	// The users' INBOXes are on both backends at the start.
	base := func(b *testcluster.Backend) spool.Stats { s, _ := spoolFigures(t, b); return s }
	c.AddUser("alice", 0)
	waitFigures := func(step string, b *testcluster.Backend, want spool.Stats) {
		t.Helper()
		var got spool.Stats
		testcluster.WaitFor(t, step+": "+b.ID+"'s spool figures", func() bool {
			var ok bool
			got, ok = spoolFigures(t, b)
			return ok && got == want
		})
	}
	waitFigures("inbox created", p, spool.Stats{Mailboxes: 1})
	waitFigures("inbox replicated", r, spool.Stats{Mailboxes: 1})

	work := c.Create(0, "user/alice/Work")
	body := "From: a@example.org\r\nSubject: figures\r\n\r\nhello\r\n"
	if _, err := p.Store.Append(context.Background(), spool.AppendRequest{Mailbox: work.ID, Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	one := spool.Stats{Mailboxes: 2, Messages: 1, Bytes: int64(len(body))}
	waitFigures("delivered", p, one)
	waitFigures("delivered", r, one)

	r.Stop()
	r.Start()
	waitFigures("restarted", r, one)
	if s := base(p); s != one {
		t.Fatalf("primary with its replica restarted: %+v, want %+v", s, one)
	}

	if err := p.Role.Delete(testcluster.Ctx(t), work.Name); err != nil {
		t.Fatal(err)
	}
	waitFigures("deleted", p, spool.Stats{Mailboxes: 1})
	waitFigures("deleted", r, spool.Stats{Mailboxes: 1})
}
