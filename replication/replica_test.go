package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/spool"
)

// dir is a directory copy that is always fresh at every level: a real
// FSM, applied to directly. The replica server only reads it.
type dir struct{ f *fsm.FSM }

var _ directory.Directory = dir{}

func (d dir) Read(context.Context, directory.Level) (*fsm.View, error) { return d.f.View(), nil }
func (d dir) Apply(context.Context, fsm.Command) (fsm.Result, error) {
	return fsm.Result{}, errors.New("replica test: the directory takes no commands")
}
func (d dir) WaitApplied(ctx context.Context, index uint64) error { return d.f.WaitApplied(ctx, index) }

type env struct {
	f                *fsm.FSM
	apply            func(fsm.Command) fsm.Result
	primary, replica *spool.Store
	client           *Client
	addr             string
	inbox, other     uint64 // inbox: b1 primary, b2 replica; other: b2 primary
}

func setup(t *testing.T) *env {
	t.Helper()
	f := fsm.New()
	idx := uint64(0)
	apply := func(c fsm.Command) fsm.Result {
		idx++
		r := f.ApplyCommand(idx, c)
		if r.Err != nil {
			t.Fatalf("%T: %v", c, r.Err)
		}
		return r
	}
	apply(fsm.BackendRegister{ID: "b1"})
	apply(fsm.BackendRegister{ID: "b2"})
	apply(fsm.UserAdd{Name: "alice", PasswordHash: "x"})
	inbox := apply(fsm.Reserve{Name: "user/alice/INBOX", Backend: "b1", Replicas: []string{"b2"}, Reservation: "r"}).Mailbox
	apply(fsm.Activate{Name: "user/alice/INBOX", Reservation: "r"})
	other := apply(fsm.Reserve{Name: "user/alice/Other", Backend: "b2", Replicas: []string{"b1"}, Reservation: "o"}).Mailbox
	apply(fsm.Activate{Name: "user/alice/Other", Reservation: "o"})

	e := &env{f: f, apply: apply, primary: openStore(t), replica: openStore(t), inbox: inbox.ID, other: other.ID}
	if err := e.primary.CreateMailbox(spool.MailboxMeta{ID: inbox.ID, UIDValidity: 1, Stride: 2, Slot: 0}); err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(ServerConfig{BackendID: "b2", Store: e.replica, Directory: dir{f}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Routes(func(p string, h http.Handler) { mux.Handle(p, h) })
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	e.addr = strings.TrimPrefix(hs.URL, "http://")
	apply(fsm.BackendRegister{ID: "b2", APIAddr: e.addr})
	e.client = NewClient("secret", nil, false)
	return e
}

func openStore(t *testing.T) *spool.Store {
	t.Helper()
	s, err := spool.Open(spool.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func (e *env) appendBody(t *testing.T, body string) {
	t.Helper()
	if _, err := e.primary.Append(context.Background(), spool.AppendRequest{Mailbox: e.inbox, Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

// sync runs the three round trips and returns the bytes the apply sent.
func (e *env) sync(t *testing.T) (int64, error) {
	t.Helper()
	states, err := e.client.State(ctx(t), e.addr, []uint64{e.inbox})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := e.primary.ChangesSince(e.inbox, states[0].HighestModSeq, false)
	if err != nil {
		t.Fatal(err)
	}
	var guids []string
	for _, r := range cb.Records {
		guids = append(guids, r.GUID)
	}
	have, err := e.client.Reserve(ctx(t), e.addr, guids)
	if err != nil {
		t.Fatal(err)
	}
	var send []string
	for i, g := range guids {
		if !have[i] {
			send = append(send, g)
		}
	}
	before := e.client.BytesSent()
	open := func(g string) (io.ReadCloser, error) { return e.primary.Body(g) }
	err = e.client.Apply(ctx(t), e.addr, nil, cb, send, open)
	return e.client.BytesSent() - before, err
}

func body(i int, pad int) string {
	return fmt.Sprintf("Subject: %d\r\nMessage-Id: <%d@x>\r\n\r\n%s\r\n", i, i, strings.Repeat("x", pad))
}

// A body the replica holds crosses the wire once.
func TestSyncSendsBodiesOnce(t *testing.T) {
	e := setup(t)
	for i := range 3 {
		e.appendBody(t, body(i, 10000))
	}
	first, err := e.sync(t)
	if err != nil {
		t.Fatal(err)
	}
	if first < 30000 {
		t.Fatalf("first sync sent %d bytes for 30 kB of bodies", first)
	}
	e.appendBody(t, body(1, 10000)) // same content again
	second, err := e.sync(t)
	if err != nil {
		t.Fatal(err)
	}
	if second > 2000 {
		t.Fatalf("sync of a duplicate body sent %d bytes", second)
	}
	msgs, err := e.replica.Messages(e.inbox)
	if err != nil || len(msgs) != 4 {
		t.Fatalf("replica holds %d messages (%v)", len(msgs), err)
	}
	if err := e.replica.Verify(); err != nil {
		t.Fatal(err)
	}
}

// Bad input gets a clear error and changes nothing.
func TestApplyRefusals(t *testing.T) {
	e := setup(t)
	e.appendBody(t, body(1, 10))
	if _, err := e.sync(t); err != nil {
		t.Fatal(err)
	}
	e.appendBody(t, body(2, 10))
	cb, err := e.primary.ChangesSince(e.inbox, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	open := func(g string) (io.ReadCloser, error) { return e.primary.Body(g) }
	guid := cb.Records[len(cb.Records)-1].GUID

	if err := e.client.Apply(ctx(t), e.addr, nil, cb, []string{guid}, open); !errors.Is(err, ErrConflict) {
		t.Fatalf("batch since a stale modseq: %v", err)
	}
	other := cb
	other.Mailbox = e.other
	if err := e.client.Apply(ctx(t), e.addr, nil, other, nil, open); !errors.Is(err, ErrNotReplica) {
		t.Fatalf("batch for a mailbox the replica serves: %v", err)
	}
	wrong := func(string) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body(3, 10))), nil }
	st, _ := e.replica.ReplicaState(e.inbox)
	cb, _ = e.primary.ChangesSince(e.inbox, st.HighestModSeq, false)
	if err := e.client.Apply(ctx(t), e.addr, nil, cb, []string{guid}, wrong); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("body that does not match its guid: %v", err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+e.addr+pathApply, strings.NewReader("\x00\x00\x00\x05{{{{{"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("garbage header: %s", resp.Status)
	}
	after, _ := e.replica.ReplicaState(e.inbox)
	if after.HighestModSeq != st.HighestModSeq {
		t.Fatalf("refused batches moved the replica from modseq %d to %d", st.HighestModSeq, after.HighestModSeq)
	}
	if ok, _ := e.replica.ReplicaState(e.other); ok.Exists {
		t.Fatal("a refused batch created a mailbox")
	}
	if err := e.replica.Verify(); err != nil {
		t.Fatal(err)
	}
}
