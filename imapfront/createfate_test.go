package imapfront

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// createCutter is a frontend's dial hook that cuts a backend connection
// at the first CREATE it carries, with cut deciding what the backend got
// done before the cut.
type createCutter struct {
	cut func() // runs once, at the CREATE, before the connection closes
}

func (cc *createCutter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &cutConn{Conn: c, cc: cc}, nil
}

type cutConn struct {
	net.Conn
	cc   *createCutter
	once sync.Once
	cut  bool
	mu   sync.Mutex
}

func (c *cutConn) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(" CREATE ")) {
		c.once.Do(func() {
			c.cc.cut()
			c.mu.Lock()
			c.cut = true
			c.mu.Unlock()
			c.Conn.Close()
		})
		return 0, io.ErrClosedPipe
	}
	return c.Conn.Write(p)
}

func (c *cutConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	cut := c.cut
	c.mu.Unlock()
	if cut {
		return 0, io.EOF
	}
	return c.Conn.Read(p)
}

// startCuttingFrontend starts a frontend over a new directory node of cl
// whose backend connections go through cc.
func startCuttingFrontend(t *testing.T, cl *testCluster, cc *createCutter) string {
	node := cl.open(clusterNodeConfig(t, "fcut", directory.RoleFrontend))
	waitFor(t, "frontend caught up", func() bool { return len(readAt(t, node, directory.Local).Backends()) == len(cl.backends) })
	cfg := testConfig(t, node)
	cfg.ClusterSecret = clusterSecret
	cfg.Dial = cc.dial
	addr, _ := startFrontend(t, cfg)
	return addr
}

func applyOn(t *testing.T, n *directory.Node, c fsm.Command) fsm.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := n.Apply(ctx, c)
	if err != nil {
		t.Fatalf("apply %T: %v", c, err)
	}
	return res
}

// A CREATE whose backend is lost after its Reserve committed and before
// its Activate is answered NO only once its reservation is released: no
// Activate can follow, so the NO holds, and the name is free at once.
func TestCreateLostAfterReserveIsReleased(t *testing.T) {
	cl := startTestCluster(t, 1, 0)
	cl.addUser("alice", 0)
	const name = "user/alice/Lost"
	cc := &createCutter{cut: func() {
		// What the backend would have done before it died.
		if res := applyOn(t, cl.voters[0], fsm.Reserve{Name: name, Backend: "b1", Reservation: "r-lost",
			At: time.Now().UnixNano()}); res.Err != nil {
			t.Errorf("reserve: %v", res.Err)
		}
	}}
	addr := startCuttingFrontend(t, cl, cc)
	c := loggedIn(t, addr, "alice")
	c.send("a CREATE Lost\r\n")
	if l := c.until("a "); !strings.HasPrefix(l, "a NO [UNAVAILABLE]") {
		t.Fatalf("CREATE with its backend lost: %q", l)
	}
	v := readAt(t, cl.voters[0], directory.Synced)
	if m, ok := v.Mailbox(name); ok {
		t.Fatalf("after CREATE answered NO the directory holds %+v", m)
	}
	if res := applyOn(t, cl.voters[0], fsm.Activate{Name: name, Reservation: "r-lost"}); res.Err == nil {
		t.Fatal("the lost create's Activate committed after its NO")
	}
	// The name is free again.
	cl.createOn(0, name, "")
}

// A CREATE whose backend made the mailbox but whose answer was lost is
// answered NO [UNAVAILABLE] saying that the mailbox exists: whether this
// CREATE or another made it cannot be told, so neither OK nor
// ALREADYEXISTS is sure to be true.
func TestCreateLostAfterActivateSaysExists(t *testing.T) {
	cl := startTestCluster(t, 1, 0)
	cl.addUser("alice", 0)
	const name = "user/alice/Made"
	cc := &createCutter{cut: func() { cl.createOn(0, name, "") }}
	addr := startCuttingFrontend(t, cl, cc)
	c := loggedIn(t, addr, "alice")
	c.send("a CREATE Made\r\n")
	if l := c.until("a "); !strings.HasPrefix(l, "a NO [UNAVAILABLE]") || !strings.Contains(l, "exists now") {
		t.Fatalf("CREATE whose answer was lost: %q", l)
	}
	c.collect("b", "SELECT Made", "OK")
}
