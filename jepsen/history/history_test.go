package history

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestRecorderConcurrentClients(t *testing.T) {
	r := NewRecorder()
	const clients, each = 8, 50
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				p := r.Invoke(Op{Process: c, F: FCreate, Key: "box"})
				outcome := OK
				if i%3 == 0 {
					outcome = Fail
				}
				if err := r.Complete(p, outcome, Value{UIDValidity: uint32(i + 1)}, ""); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	h := r.History()
	if len(h) != clients*each {
		t.Fatalf("got %d ops, want %d", len(h), clients*each)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	for i, op := range h {
		if op.Index != i {
			t.Fatalf("op %d has index %d", i, op.Index)
		}
	}
	for p, ops := range h.ByProcess() {
		if len(ops) != each {
			t.Fatalf("process %d: %d ops", p, len(ops))
		}
	}
}

func TestRecorderPendingBecomesInfo(t *testing.T) {
	r := NewRecorder()
	done := r.Invoke(Op{Process: 0, F: FDeliver, Key: "INBOX", Value: Value{MessageID: "<a@x>"}})
	r.Invoke(Op{Process: 1, F: FDeliver, Key: "INBOX", Value: Value{MessageID: "<b@x>"}})
	if err := r.Complete(done, OK, Value{}, ""); err != nil {
		t.Fatal(err)
	}
	if err := r.Complete(done, OK, Value{}, ""); !errors.Is(err, ErrCompleted) {
		t.Fatalf("second completion: %v, want ErrCompleted", err)
	}
	h := r.History()
	if h[0].Outcome != OK || h[0].Value.MessageID != "<a@x>" {
		t.Fatalf("completed op: %+v", h[0])
	}
	if h[1].Outcome != Info || h[1].Complete < h[1].Invoke {
		t.Fatalf("pending op: %+v", h[1])
	}
}

func TestJSONLRoundTrip(t *testing.T) {
	h := History{
		{Index: 0, Process: 1, F: FCreate, Key: "a", Outcome: OK, Node: "n1", Invoke: 10, Complete: 20},
		{Index: 1, Process: 2, F: FFetch, Key: "a", Outcome: OK, Invoke: 15, Complete: 30,
			Value: Value{UIDValidity: 7, Messages: []Message{{UID: 1, MessageID: "<m1>"}}}},
		{Index: 2, Process: 2, F: FDelete, Key: "a", Outcome: Fail, Error: ErrorNonexistent, Invoke: 31, Complete: 40},
	}
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, h); err != nil {
		t.Fatal(err)
	}
	got, err := ReadJSONL(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[1].Value.Messages[0].MessageID != "<m1>" || got[2].Error != ErrorNonexistent {
		t.Fatalf("round trip: %+v", got)
	}
	var text bytes.Buffer
	if err := WriteText(&text, h); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(text.String(), "\n"); lines != 3 || !strings.Contains(text.String(), "1:<m1>") {
		t.Fatalf("text:\n%s", text.String())
	}
}

func TestReadJSONLRejectsBadRecords(t *testing.T) {
	for name, in := range map[string]string{
		"not json":        "{\"index\":0,\n",
		"unknown field":   `{"index":0,"f":"create","outcome":"ok","bogus":1}`,
		"bad outcome":     `{"index":0,"f":"create","outcome":"maybe"}`,
		"completes early": `{"index":0,"f":"create","outcome":"ok","invoke_ns":5,"complete_ns":4}`,
		"empty f":         `{"index":0,"outcome":"ok"}`,
		"repeated index":  "{\"index\":0,\"f\":\"list\",\"outcome\":\"ok\"}\n{\"index\":0,\"f\":\"list\",\"outcome\":\"ok\"}",
	} {
		if _, err := ReadJSONL(strings.NewReader(in)); !errors.Is(err, ErrBadHistory) {
			t.Errorf("%s: err %v, want ErrBadHistory", name, err)
		}
	}
}
