package testcluster

import (
	"errors"
	"net/http"
	"sync"
)

// Link is a backend's replication transport with a switch per peer: a
// cut peer's cluster API is unreachable for replication, as across a
// partition, while everything else (directory, clients) still works.
type Link struct {
	mu  sync.Mutex
	cut map[string]bool // host:port of cut cluster APIs
	rt  http.RoundTripper
}

func newLink() *Link {
	return &Link{cut: make(map[string]bool), rt: &http.Transport{MaxIdleConnsPerHost: 16}}
}

var errCut = errors.New("testcluster: replication link cut")

// Client is the HTTP client replication uses.
func (l *Link) Client() *http.Client { return &http.Client{Transport: l} }

// wrap makes l carry a node's replication transport rt (a restarted node
// brings a new one); the node takes l in its place.
func (l *Link) wrap(rt http.RoundTripper) http.RoundTripper {
	l.mu.Lock()
	l.rt = rt
	l.mu.Unlock()
	return l
}

func (l *Link) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	cut, rt := l.cut[r.URL.Host], l.rt
	l.mu.Unlock()
	if cut {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, errCut
	}
	return rt.RoundTrip(r)
}

func (l *Link) set(apiAddr string, cut bool) {
	l.mu.Lock()
	l.cut[apiAddr] = cut
	l.mu.Unlock()
}

// Partition cuts (or heals) replication between backends a and b, both
// ways.
func Partition(a, b *Backend, cut bool) {
	a.Replication.set(b.Node.APIAddr(), cut)
	b.Replication.set(a.Node.APIAddr(), cut)
}

// Cut cuts (or heals) replication from backend a to backend b only: a's
// calls to b fail while b's calls to a go through.
func Cut(a, b *Backend, cut bool) {
	a.Replication.set(b.Node.APIAddr(), cut)
}
