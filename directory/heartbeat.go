package directory

import (
	"sync"

	"github.com/hashicorp/raft"
)

// gatedTransport is Raft's network transport with a gate on its heartbeat
// handler. Raft handles a heartbeat on the transport's own goroutine, not
// its main loop, and writes the term to the stable store there, panicking
// if the write fails: a heartbeat that passed Raft's shutdown check just
// before Shutdown could otherwise reach a store Close has closed. Close
// shuts the gate, which waits for a heartbeat in flight, before it closes
// the store.
type gatedTransport struct {
	*raft.NetworkTransport
	mu   sync.RWMutex
	shut bool
}

// SetHeartbeatHandler gates cb.
func (t *gatedTransport) SetHeartbeatHandler(cb func(raft.RPC)) {
	if cb == nil {
		t.NetworkTransport.SetHeartbeatHandler(nil)
		return
	}
	t.NetworkTransport.SetHeartbeatHandler(func(rpc raft.RPC) {
		t.mu.RLock()
		defer t.mu.RUnlock()
		if t.shut {
			rpc.Respond(nil, raft.ErrRaftShutdown)
			return
		}
		cb(rpc)
	})
}

// stopHeartbeats waits for a heartbeat being handled and refuses the
// ones after it.
func (t *gatedTransport) stopHeartbeats() {
	t.mu.Lock()
	t.shut = true
	t.mu.Unlock()
}
