package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// TestSIGKILLPrimaryFailover kills, with SIGKILL, the node process that
// holds the primary copy of a mailbox while LMTP deliveries and IMAP
// APPENDs keep arriving through another node's frontend and a client keeps
// the mailbox selected there. The in-sync replica must take over: every
// acknowledged message is on it exactly once, with the UID it was
// acknowledged with, and the watching client stays in its one session
// throughout and sees UIDs only ascend. How long deliveries stopped is
// logged, not asserted: it depends on the machine.
//
// The primary is killed on a follower and on the Raft leader, whose death
// adds an election to the failure detection, in 3-node clusters; and on a
// follower in a 5-node cluster, where gossip waits for members to confirm
// a suspicion before it declares the node dead.
func TestSIGKILLPrimaryFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes; skipped with -short")
	}
	for _, tc := range []struct {
		name       string
		nodes      int
		killLeader bool
	}{
		{"follower", 3, false},
		{"leader", 3, true},
		{"follower-of-5", 5, false},
	} {
		t.Run(tc.name, func(t *testing.T) { testPrimaryFailover(t, tc.nodes, tc.killLeader, (*procNode).kill) })
	}
}

// TestFrozenPrimaryFailover stops the primary's process with SIGSTOP
// instead: its connections stay open and nothing answers on them, as when
// a host on a LAN loses power or its link and no reset ever arrives. The
// same checks hold. The logged pause shows how long clients that were
// talking to the frozen backend wait.
func TestFrozenPrimaryFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes; skipped with -short")
	}
	testPrimaryFailover(t, 3, false, (*procNode).freeze)
}

// testPrimaryFailover kills the primary with kill under load.
func testPrimaryFailover(t *testing.T, size int, killLeader bool, kill func(*procNode)) {
	const user = "alice"
	nodes := startProcCluster(t, size)
	x, y, z := placeInbox(t, nodes, user, killLeader)

	// The load and the watching client go through z, which holds no copy.
	l := &loadLog{acks: map[string]acked{}}
	w := &uidWatcher{}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	spawn := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	for i := range 2 {
		spawn(func() { l.keep(ctx, lmtpSession, z.cfg.Frontend.LMTPAddr, user, fmt.Sprintf("lmtp-%d", i)) })
		spawn(func() { l.keep(ctx, appendSession, z.cfg.Frontend.IMAPAddr, user, fmt.Sprintf("imap-%d", i)) })
	}
	spawn(func() { l.arrivals(ctx, z.cfg.Frontend.LMTPAddr, user, "mta") })
	spawn(func() { w.run(ctx, z.cfg.Frontend.IMAPAddr, user) })
	stopLoad := sync.OnceFunc(func() { stop(); wg.Wait() })
	t.Cleanup(stopLoad)

	waitUntil(t, "50 deliveries, 50 appends and a watching client", func() bool {
		delivered, appended := l.count(time.Time{})
		return delivered >= 50 && appended >= 50 && w.Learnt() > 0
	})
	killedAt := time.Now()
	kill(x)
	waitUntil(t, "20 deliveries and 20 appends begun after the kill to be acknowledged", func() bool {
		delivered, appended := l.count(killedAt)
		return delivered >= 20 && appended >= 20
	})
	// The watcher must have seen what the new primary acknowledged.
	lastUID := l.lastAppendUID(killedAt)
	waitUntil(t, fmt.Sprintf("the watcher to see UID %d", lastUID), func() bool { return w.Seen(lastUID) })
	stopLoad()

	checkFailedOver(t, z, user, y.cfg.NodeID)
	l.mu.Lock()
	acks := maps.Clone(l.acks)
	l.mu.Unlock()
	checkMailbox(t, fetchAll(t, z.cfg.Frontend.IMAPAddr, user), acks)
	for _, v := range w.problems() {
		t.Error(v)
	}
	if w.sessionCount() > 1 {
		if b, err := os.ReadFile(z.log.Name()); err == nil {
			t.Logf("the watcher needed %d sessions; what %s's frontend said of them:\n%s",
				w.sessionCount(), z.cfg.NodeID, sessionEvents(string(b)))
		}
	}
	reportFailover(t, l, w, killedAt, x, otherThan(nodes, x))
}

// placeInbox adds user with its INBOX's primary copy on the leader (or on
// a follower) and waits until the replica is in sync. It returns the
// primary's node, the replica's and a node with neither.
func placeInbox(t *testing.T, nodes []*procNode, user string, onLeader bool) (x, y, z *procNode) {
	t.Helper()
	leader := procLeader(t, nodes)
	x = leader
	if !onLeader {
		x = otherThan(nodes, leader)[0]
	}
	mb := addProcUser(t, x.cfg.Directory.APIAddr, user)
	if mb.Primary.Backend != x.cfg.NodeID || len(mb.Replicas) != 1 {
		t.Fatalf("INBOX created on %s has primary %s and replicas %v", x.cfg.NodeID, mb.Primary.Backend, mb.Replicas)
	}
	y = nodeByID(nodes, mb.Replicas[0].Backend)
	z = otherThan(nodes, x, y)[0]
	waitUntil(t, fmt.Sprintf("%s in sync with %s", y.cfg.NodeID, x.cfg.NodeID), func() bool {
		return pairInSync(z, x.cfg.NodeID, y.cfg.NodeID)
	})
	return x, y, z
}

// checkFailedOver checks in n's directory that user's INBOX is now served
// by the backend want.
func checkFailedOver(t *testing.T, n *procNode, user, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mb, err := directory.NewClient(n.cfg.Directory.APIAddr, procSecret).Mailbox(ctx, fsm.Inbox(user))
	if err != nil {
		t.Fatal(err)
	}
	if mb.Primary.Backend != want {
		t.Fatalf("primary after the kill: %s, want the replica %s", mb.Primary.Backend, want)
	}
}

// reportFailover logs how long deliveries stopped, and where the time went.
func reportFailover(t *testing.T, l *loadLog, w *uidWatcher, killedAt time.Time, x *procNode, survivors []*procNode) {
	t.Helper()
	l.mu.Lock()
	acked, fails := len(l.acks), l.fails
	l.mu.Unlock()
	delivery, appended := l.firstAcks(killedAt)
	t.Logf("deliveries resumed after %v, appends after %v (%s lost); longest pause between acknowledgements %v",
		delivery.Round(time.Millisecond), appended.Round(time.Millisecond), x.cfg.NodeID,
		l.longestPause(killedAt).Round(time.Millisecond))
	t.Logf("timeline after the kill: %s", timeline(killedAt, x.cfg.NodeID, survivors))
	t.Logf("%d acknowledged, %d refused or broken transactions, longest acknowledged transaction %v; watcher learnt %d UIDs over %d sessions",
		acked, fails, l.longestTransaction().Round(time.Millisecond), w.Learnt(), w.sessionCount())
	l.mu.Lock()
	defer l.mu.Unlock()
	for reason, n := range l.reasons {
		t.Logf("load failure: %d x %s", n, reason)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	ends := map[string]int{}
	for _, e := range w.ends {
		ends[e]++
	}
	for e, n := range ends {
		t.Logf("watcher session ended: %d x %s", n, e)
	}
}

// startProcCluster starts n node processes with every role that bootstrap
// one cluster with replication factor 2, and waits until all serve.
func startProcCluster(t *testing.T, n int) []*procNode {
	t.Helper()
	gossip := make([]string, n)
	for i := range gossip {
		gossip[i] = freePort(t)
	}
	nodes := make([]*procNode, n)
	for i := range nodes {
		nodes[i] = newProcNode(t, fmt.Sprintf("n%d", i+1), func(c *Config) {
			c.LogFormat = "json"
			c.AdminAddr = freePort(t)
			c.Directory.GossipAddr = gossip[i]
			c.Directory.Join = slices.Delete(slices.Clone(gossip), i, i+1)
			c.Directory.BootstrapExpect = n
			c.Backend.ReplicationFactor = 2
		})
	}
	for _, nd := range nodes {
		nd.launch()
	}
	for _, nd := range nodes {
		nd.waitServing()
	}
	return nodes
}

// procLeader returns the node that leads the directory.
func procLeader(t *testing.T, nodes []*procNode) *procNode {
	t.Helper()
	var leader *procNode
	waitUntil(t, "a directory leader", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := directory.NewClient(nodes[0].cfg.Directory.APIAddr, procSecret).Status(ctx)
		if err != nil {
			return false
		}
		leader = nodeByID(nodes, st.LeaderID)
		return leader != nil
	})
	return leader
}

func nodeByID(nodes []*procNode, id string) *procNode {
	for _, n := range nodes {
		if n.cfg.NodeID == id {
			return n
		}
	}
	return nil
}

func otherThan(nodes []*procNode, not ...*procNode) []*procNode {
	var out []*procNode
	for _, n := range nodes {
		if !slices.Contains(not, n) {
			out = append(out, n)
		}
	}
	return out
}

// pairInSync reads the replication table of n's status page.
func pairInSync(n *procNode, primary, replica string) bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + n.cfg.AdminAddr + "/status?format=json")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var page struct {
		Replication []struct {
			Primary string `json:"primary"`
			Replica string `json:"replica"`
			InSync  bool   `json:"in_sync"`
		} `json:"replication"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return false
	}
	for _, r := range page.Replication {
		if r.Primary == primary && r.Replica == replica {
			return r.InSync
		}
	}
	return false
}

// timeline reads the survivors' logs for when gossip declared the node
// dead failed and when the leader marked its backend down (which fails
// its mailboxes over), as offsets from the kill: where the pause goes.
func timeline(killedAt time.Time, dead string, survivors []*procNode) string {
	var declared, down time.Time
	for _, n := range survivors {
		f, err := os.Open(n.log.Name())
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var rec struct {
				Time    time.Time `json:"time"`
				Msg     string    `json:"msg"`
				Backend string    `json:"backend"`
				Command int       `json:"command"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Time.Before(killedAt) {
				continue
			}
			switch {
			case strings.Contains(rec.Msg, "Marking "+dead+" as failed"):
				declared = earliest(declared, rec.Time)
			case rec.Msg == "backend reconciled" && rec.Backend == dead && rec.Command == int(fsm.TypeBackendState):
				down = earliest(down, rec.Time)
			}
		}
		f.Close()
	}
	offset := func(t time.Time) string {
		if t.IsZero() {
			return "not logged"
		}
		return t.Sub(killedAt).Round(time.Millisecond).String()
	}
	return fmt.Sprintf("declared failed by gossip %s, backend down and failed over %s", offset(declared), offset(down))
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}
