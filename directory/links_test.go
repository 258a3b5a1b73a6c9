package directory

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
)

// acceptFrom dials ln with dial and returns the address the listener saw
// the connection come from.
func acceptFrom(t *testing.T, ln net.Listener, dial func() (net.Conn, error)) net.IP {
	t.Helper()
	got := make(chan net.Addr, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		got <- c.RemoteAddr()
		c.Close()
	}()
	c, err := dial()
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	a := <-got
	if a == nil {
		t.Fatal("accept failed")
	}
	return a.(*net.TCPAddr).IP
}

func TestSourceIPBindsRaftAndGossipDials(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := Config{RaftAddr: "127.0.0.3:0", RaftAdvertise: "127.0.0.1:4321", SourceIP: "127.0.0.3"}
	stream, err := newRaftStream(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if got := stream.Addr().String(); got != "127.0.0.1:4321" {
		t.Errorf("raft stream advertises %s, want the configured 127.0.0.1:4321", got)
	}
	if ip := acceptFrom(t, ln, func() (net.Conn, error) { return stream.Dial(raft.ServerAddress(ln.Addr().String()), time.Second) }); !ip.Equal(net.ParseIP("127.0.0.3")) {
		t.Errorf("raft dial came from %s, want 127.0.0.3", ip)
	}
	gt, err := newGossipTransport(cfg, "127.0.0.3", 0, memberlist.DefaultLocalConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer gt.Shutdown()
	if ip := acceptFrom(t, ln, func() (net.Conn, error) { return gt.DialTimeout(ln.Addr().String(), time.Second) }); !ip.Equal(net.ParseIP("127.0.0.3")) {
		t.Errorf("gossip dial came from %s, want 127.0.0.3", ip)
	}
	hc := cfg.peerClient().HTTP()
	if ip := acceptFrom(t, ln, func() (net.Conn, error) {
		return hc.Transport.(*http.Transport).DialContext(t.Context(), "tcp", ln.Addr().String())
	}); !ip.Equal(net.ParseIP("127.0.0.3")) {
		t.Errorf("cluster API dial came from %s, want 127.0.0.3", ip)
	}
}

func TestValidateAdvertise(t *testing.T) {
	base := Default()
	base.NodeID, base.DataDir, base.ClusterSecret, base.Roles = "n1", t.TempDir(), "secret", []string{RoleDirectory}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"none", func(*Config) {}, true},
		{"all", func(c *Config) {
			c.RaftAdvertise, c.APIAdvertise, c.GossipAdvertise, c.SourceIP = "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.11"
		}, true},
		{"hostname", func(c *Config) { c.RaftAdvertise = "localhost:1" }, false},
		{"port zero", func(c *Config) { c.APIAdvertise = "127.0.0.1:0" }, false},
		{"no port", func(c *Config) { c.GossipAdvertise = "127.0.0.1" }, false},
		{"bad source", func(c *Config) { c.SourceIP = "nowhere" }, false},
	} {
		c := base
		tc.edit(&c)
		if err := c.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// TestFreshnessNeedsContactAfterLeaderChange: a follower's contact counts
// only when it postdates the last change of leader (raft also bumps
// LastContact when it grants a vote), and closing the leader makes the
// followers stop trusting their copies.
func TestFreshnessNeedsContactAfterLeaderChange(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.leader()
	f := c.follower()
	waitFor(t, 10*time.Second, "follower hears from the leader", func() bool { return f.heardFromLeader(time.Minute) })

	f.leaderChanged.Store(time.Now().Add(time.Hour).UnixNano())
	if f.heardFromLeader(time.Minute) {
		t.Fatal("a contact from before the last leader change counted")
	}
	f.leaderChanged.Store(0)

	c.close(leader.ID())
	waitFor(t, 30*time.Second, "a new leader", func() bool {
		l, _ := f.Leader()
		return l != "" && l != leader.ID()
	})
	// The new leader is known; its first successful contact comes after the
	// change was recorded.
	if l, _ := f.Leader(); l != f.ID() {
		waitFor(t, 10*time.Second, "contact from the new leader", func() bool { return f.heardFromLeader(time.Minute) })
		if lc := f.raft.LastContact().UnixNano(); lc <= f.leaderChanged.Load() {
			t.Fatalf("fresh with a contact (%d) not after the leader change (%d)", lc, f.leaderChanged.Load())
		}
	}
}
