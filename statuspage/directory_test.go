package statuspage

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// fakeDirectory reads f; the page never writes, so Apply and WaitApplied
// are left to the nil interface.
type fakeDirectory struct {
	directory.Directory
	members []directory.MemberStatus
	f       *fsm.FSM
}

func (d fakeDirectory) ClusterStatus(context.Context) []directory.MemberStatus { return d.members }
func (d fakeDirectory) Read(context.Context, directory.Level) (*fsm.View, error) {
	return d.f.View(), nil
}

// TestDirectorySource builds a directory state by applying commands, as
// Raft would, and checks what the page is given from it.
func TestDirectorySource(t *testing.T) {
	f := fsm.New()
	var index uint64
	apply := func(cmd fsm.Command) {
		t.Helper()
		index++
		if res := f.ApplyCommand(index, cmd); res.Err != nil {
			t.Fatalf("%T: %v", cmd, res.Err)
		}
	}
	for _, b := range []string{"b1", "b2", "b3"} {
		apply(fsm.BackendRegister{ID: b, IMAPAddr: b + ":7143", LMTPAddr: b + ":7024", At: 1})
	}
	apply(fsm.SetBackendState{ID: "b3", State: fsm.BackendDraining, At: 2})
	mailbox := func(name, primary string, replicas ...string) {
		res := fmt.Sprintf("r-%s", name)
		apply(fsm.Reserve{Name: name, Backend: primary, Replicas: replicas, Reservation: res, At: 3})
		apply(fsm.Activate{Name: name, Reservation: res})
	}
	mailbox("user/a/INBOX", "b1", "b2")
	mailbox("user/b/INBOX", "b1", "b2")
	mailbox("user/c/INBOX", "b2", "b1")
	mailbox("user/d/INBOX", "b1")
	apply(fsm.SetInSync{Primary: "b1", Replica: "b2", InSync: true, At: 4})

	contact := time.Now().Add(-time.Second)
	d := fakeDirectory{f: f, members: []directory.MemberStatus{
		{Status: directory.Status{NodeID: "n1", Roles: []string{"directory"}, RaftState: "Leader", LeaderID: "n1", Term: 3, CommitIndex: 20, AppliedIndex: 20, Voter: true}},
		{Status: directory.Status{NodeID: "n2", RaftState: "Follower", LeaderID: "n1", LastContact: contact}},
		{Status: directory.Status{NodeID: "n3"}, Error: "connection refused"},
	}}
	lag := func(context.Context) []Replica {
		return []Replica{{Primary: "b2", Replica: "b1", Lag: 2 * time.Second, Pending: 7}}
	}
	c, err := DirectorySource(d, lag).ClusterStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Nodes) != 3 || c.Nodes[0].RaftState != "Leader" || c.Nodes[1].LastContact != contact || c.Nodes[2].Error == "" {
		t.Errorf("nodes %+v", c.Nodes)
	}
	want := []Backend{{ID: "b1", State: "up", Primaries: 3, Replicas: 1}, {ID: "b2", State: "up", Primaries: 1, Replicas: 2},
		{ID: "b3", State: "draining"}}
	if fmt.Sprint(c.Backends) != fmt.Sprint(want) {
		t.Errorf("backends %+v, want %+v", c.Backends, want)
	}
	wantRepl := []Replica{{Primary: "b1", Replica: "b2", InSync: true, Lag: -1}, {Primary: "b2", Replica: "b1", Lag: 2 * time.Second, Pending: 7}}
	if fmt.Sprint(c.Replication) != fmt.Sprint(wantRepl) {
		t.Errorf("replication %+v, want %+v", c.Replication, wantRepl)
	}
}
