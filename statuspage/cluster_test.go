package statuspage_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/rookery-mail/rookery/internal/node"
	"github.com/rookery-mail/rookery/internal/testcluster"
)

type pageJSON struct {
	Voters  int `json:"voters"`
	Healthy int `json:"healthy_voters"`
	Nodes   []struct {
		ID     string `json:"id"`
		Health string `json:"health"`
	} `json:"nodes"`
	Replication []struct {
		Primary string   `json:"primary"`
		Replica string   `json:"replica"`
		State   string   `json:"state"`
		LagSec  *float64 `json:"lag_seconds"`
	} `json:"replication"`
}

func readPage(t *testing.T, adminAddr string) (pageJSON, bool) {
	t.Helper()
	resp, err := http.Get("http://" + adminAddr + "/status?format=json")
	if err != nil {
		return pageJSON{}, false
	}
	defer resp.Body.Close()
	var p pageJSON
	return p, resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&p) == nil
}

// TestPageOfAClusterShowsEveryPrimary: one backend's page shows the lag of
// the replicas of the other backend's mailboxes too (asked over the
// cluster API), not only of its own; with the other backend stopped, that
// node stays listed, down, and replication to it is not "ok".
func TestPageOfAClusterShowsEveryPrimary(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, ReplicationFactor: 2})
	c.AddUser("alice", 0)
	c.AddUser("bob", 1)
	b1, b2 := c.Backends[0], c.Backends[1]
	admin := b1.Host.Addr(node.ListenAdmin)

	var p pageJSON
	testcluster.WaitFor(t, b1.ID+"'s page to show the lag of both backends' replicas", func() bool {
		var ok bool
		if p, ok = readPage(t, admin); !ok || len(p.Replication) != 2 {
			return false
		}
		for _, r := range p.Replication {
			if r.LagSec == nil || r.State != "ok" {
				return false
			}
		}
		return true
	})

	b2.Stop()
	testcluster.WaitFor(t, b1.ID+"'s page to show "+b2.ID+" down", func() bool {
		var ok bool
		if p, ok = readPage(t, admin); !ok {
			return false
		}
		listed := false
		for _, n := range p.Nodes {
			if n.ID == b2.Host.Config().NodeID {
				listed = n.Health == "down"
			}
		}
		toDead := false
		for _, r := range p.Replication {
			if r.Replica == b2.ID {
				toDead = r.State == "replica down"
			}
		}
		return listed && toDead
	})
}
