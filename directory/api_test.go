package directory

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/clusterapi"
)

func TestClusterAPIRequiresBearerToken(t *testing.T) {
	c := startCluster(t, 3)
	n := c.follower()
	for _, tc := range []struct {
		method, path, auth string
		want               int
	}{
		{"GET", "/v1/status", "", http.StatusUnauthorized},
		{"GET", "/v1/status", clusterapi.Bearer("wrong"), http.StatusUnauthorized},
		{"GET", "/v1/status", testSecret, http.StatusUnauthorized}, // no scheme
		{"POST", "/v1/apply", "", http.StatusUnauthorized},
		{"GET", "/v1/readindex", "", http.StatusUnauthorized},
		{"GET", "/v1/mailboxes", "", http.StatusUnauthorized},
		{"POST", "/v1/bootstrap", "", http.StatusUnauthorized},
		{"GET", "/healthz", "", http.StatusOK},
		{"GET", "/v1/status", clusterapi.Bearer(testSecret), http.StatusOK},
	} {
		req, err := http.NewRequest(tc.method, n.APIURL()+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s with %q: status %d, want %d", tc.method, tc.path, tc.auth, resp.StatusCode, tc.want)
		}
	}
	// The client reports the refusal as a sentinel.
	_, err := NewClient(n.APIAddr(), "wrong").Status(context.Background())
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("client with wrong secret: %v, want ErrUnauthorized", err)
	}
}

func TestClusterAPIRejectsBadCommands(t *testing.T) {
	c := startCluster(t, 3)
	n := c.follower()
	leader := c.leader()
	before := leader.raft.LastIndex()
	for _, body := range [][]byte{
		nil,
		{0x7f},                        // unknown type, not ignorable
		{byte(fsm.TypeReserve), 0xff}, // truncated payload
		bytes.Repeat([]byte{1}, maxCommandBytes+1),
	} {
		req, _ := http.NewRequest("POST", n.APIURL()+"/v1/apply", bytes.NewReader(body))
		req.Header.Set("Authorization", clusterapi.Bearer(testSecret))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("body % x...: status %d, want 400", body[:min(len(body), 4)], resp.StatusCode)
		}
	}
	if after := leader.raft.LastIndex(); after != before {
		t.Fatalf("bad commands reached the log: last index %d -> %d", before, after)
	}
}

func TestClientAgainstFollower(t *testing.T) {
	c := startCluster(t, 3, "f1")
	cl := NewClient(c.nodes["f1"].APIURL(), testSecret)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if _, err := cl.Apply(ctx, fsm.BackendRegister{ID: "b1", Weight: 1, At: 1}); err != nil {
		t.Fatal(err)
	}
	// The user first: UserAdd refuses a name with mailboxes already under it.
	if _, err := cl.Apply(ctx, fsm.UserAdd{Name: "alice", PasswordHash: "$2a$10$secret", At: 1}); err != nil {
		t.Fatal(err)
	}
	res, err := cl.Apply(ctx, reserve("user/alice/INBOX", "b1", "r1"))
	if err != nil || res.Err != nil || res.Mailbox == nil || res.Index == 0 {
		t.Fatalf("reserve through client: %+v, %v", res, err)
	}
	again, err := cl.Apply(ctx, reserve("user/alice/INBOX", "b1", "r2"))
	if err != nil || !errors.Is(again.Err, fsm.ErrNotActive) {
		t.Fatalf("second reserve through client: %v, %v; want ErrNotActive (a create in progress)", again.Err, err)
	}

	mb, err := cl.Mailbox(ctx, "user/alice/INBOX")
	if err != nil || mb.ID != res.Mailbox.ID || mb.Name != "user/alice/INBOX" {
		t.Fatalf("mailbox: %+v, %v", mb, err)
	}
	if _, err := cl.Mailbox(ctx, "shared/none"); !errors.Is(err, fsm.ErrNoMailbox) {
		t.Fatalf("unknown mailbox: %v, want fsm.ErrNoMailbox", err)
	}
	list, err := cl.Mailboxes(ctx, "user/", 0)
	if err != nil || len(list.Mailboxes) != 1 || list.Truncated {
		t.Fatalf("mailboxes: %+v, %v", list, err)
	}
	users, err := cl.Users(ctx)
	if err != nil || len(users) != 1 || users[0].Name != "alice" {
		t.Fatalf("users: %+v, %v", users, err)
	}

	st, err := cl.Status(ctx)
	if err != nil || st.NodeID != "f1" || st.Voter || st.LeaderID == "" || st.NumPeers != 3 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	all, err := cl.ClusterStatus(ctx)
	if err != nil || len(all) != 4 {
		t.Fatalf("cluster status: %+v, %v", all, err)
	}
	voters := 0
	for _, m := range all {
		if m.Error != "" {
			t.Errorf("member %s: %s", m.NodeID, m.Error)
		}
		if m.Voter {
			voters++
		}
	}
	if voters != 3 {
		t.Fatalf("cluster status shows %d voters, want 3", voters)
	}
	if err := cl.Bootstrap(ctx); !errors.Is(err, ErrNotVoter) {
		t.Fatalf("bootstrap on a frontend: %v, want ErrNotVoter", err)
	}
	if err := NewClient(c.leader().APIAddr(), testSecret).Bootstrap(ctx); !errors.Is(err, ErrBootstrapped) {
		t.Fatalf("second bootstrap: %v, want ErrBootstrapped", err)
	}
}

func TestExplicitBootstrapAndRemoveNode(t *testing.T) {
	c := &testCluster{t: t, nodes: map[string]*Node{}, cfgs: map[string]Config{}}
	t.Cleanup(c.closeAll)
	for _, id := range []string{"v1", "v2", "v3"} {
		c.start(testConfig(t, id, RoleDirectory)) // BootstrapExpect 0: waits
	}
	waitFor(t, 10*time.Second, "gossip among three", func() bool {
		return len(c.nodes["v1"].aliveVoters()) == 3
	})
	if c.nodes["v1"].raft.State().String() == "Leader" {
		t.Fatal("a node led before bootstrap")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := NewClient(c.nodes["v2"].APIAddr(), testSecret).Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	c.waitMembers("v1", "v2", "v3")
	registerBackend(t, c.nodes["v3"], "b1")

	// v3 fails for good; an operator removes it through another node.
	c.close("v3")
	if err := c.follower().RemoveNode(ctx, "v3"); err != nil {
		t.Fatal(err)
	}
	f := c.leader().raft.GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	if n := len(f.Configuration().Servers); n != 2 {
		t.Fatalf("configuration has %d servers after removal, want 2", n)
	}
	mustApply(t, c.follower(), reserve("shared/two", "b1", "r"))
}
