package fsm

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// Mailboxes and backends cross the cluster API as snake_case JSON with
// named states; a name no state has is refused.
func TestWireJSON(t *testing.T) {
	mb := &Mailbox{ID: 7, Name: "user/alice/INBOX", State: Moving, Primary: Copy{Backend: "b1"},
		Replicas: []Copy{{Backend: "b2", Slot: 1}}, Stride: 2, ACL: []ACE{{Identifier: "alice", Rights: "lr"}}}
	data, err := json.Marshal(mb)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"state":"moving"`, `"primary":{"backend":"b1","slot":0}`, `"uidvalidity":0`, `"acl":[{"identifier":"alice","rights":"lr"}]`} {
		if !strings.Contains(string(data), want) {
			t.Fatalf("%s lacks %s", data, want)
		}
	}
	var back Mailbox
	if err := json.Unmarshal(data, &back); err != nil || back.State != Moving || back.Replicas[0].Slot != 1 {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	for s := Reserved; s <= Deleting; s++ {
		var got MailboxState
		if b, err := s.MarshalText(); err != nil || got.UnmarshalText(b) != nil || got != s {
			t.Fatalf("mailbox state %v: %q %v", s, b, err)
		}
	}
	for s := BackendUp; s <= BackendDown; s++ {
		var got BackendState
		if b, err := s.MarshalText(); err != nil || got.UnmarshalText(b) != nil || got != s {
			t.Fatalf("backend state %v: %q %v", s, b, err)
		}
	}
	if err := json.Unmarshal([]byte(`{"state":"lost"}`), &back); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("unknown mailbox state: %v", err)
	}
	var b Backend
	if err := json.Unmarshal([]byte(`{"state":2}`), &b); err == nil {
		t.Fatal("a numeric backend state was accepted")
	}
	if err := json.Unmarshal([]byte(`{"id":"b1","api_addr":"10.0.0.1:7001","state":"draining"}`), &b); err != nil || b.State != BackendDraining || b.APIAddr != "10.0.0.1:7001" {
		t.Fatalf("backend: %+v, %v", b, err)
	}
	if _, err := MailboxState(0).MarshalText(); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("state 0 marshalled: %v", err)
	}
}
