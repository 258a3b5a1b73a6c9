package fsm

import (
	"fmt"
	"slices"
)

// Backends: the nodes that hold mail spools. There are few of them, so the
// table is a sorted slice that each change replaces whole.

// MaxBackendIDLen bounds a backend id.
const MaxBackendIDLen = 64

func (f *FSM) registerBackendHandlers() {
	on(f, (*FSM).backendRegister)
	on(f, (*FSM).setBackendState)
}

// ValidateBackendID checks a backend id: 1 to MaxBackendIDLen letters,
// digits, '.', '_' and '-'.
func ValidateBackendID(id string) error {
	if id == "" || len(id) > MaxBackendIDLen {
		return fmt.Errorf("%w: backend id must be 1 to %d bytes", ErrInvalidCommand, MaxBackendIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("%w: backend id %q", ErrInvalidCommand, id)
		}
	}
	return nil
}

// backendRegister adds a backend (state up) or updates a known one's
// addresses and weight, keeping its state.
func (f *FSM) backendRegister(c BackendRegister) Result {
	if err := ValidateBackendID(c.ID); err != nil {
		return failed(err)
	}
	b := &Backend{
		ID:       c.ID,
		IMAPAddr: c.IMAPAddr,
		LMTPAddr: c.LMTPAddr,
		APIAddr:  c.APIAddr,
		State:    BackendUp,
		Weight:   c.Weight,
		Since:    c.At,
	}
	if old, ok := f.work.backend(c.ID); ok {
		b.ID = old.ID // keep the string that mailbox records share
		b.State = old.State
		b.Since = old.Since
	}
	f.putBackend(b)
	return Result{Count: 1}
}

func (f *FSM) setBackendState(c SetBackendState) Result {
	if c.State < BackendUp || c.State > BackendDown {
		return failed(fmt.Errorf("%w: backend state %d", ErrInvalidCommand, c.State))
	}
	old, ok := f.work.backend(c.ID)
	if !ok {
		return failed(fmt.Errorf("%w: %q", ErrNoBackend, c.ID))
	}
	b := *old
	if b.State != c.State {
		b.State = c.State
		b.Since = c.At
	}
	f.putBackend(&b)
	if c.State == BackendDown {
		// Memberlist declared it dead: its mailboxes move to in-sync
		// replicas in this same command (DESIGN "Replication and failover").
		f.promoteAway(b.ID, false)
		f.cancelMovesTo(b.ID)
	}
	return Result{Count: 1}
}

// putBackend replaces the slice, never an element of it: a published state
// may share the old slice.
func (f *FSM) putBackend(b *Backend) {
	t := f.work
	i, found := t.backendIndex(b.ID)
	next := slices.Clone(t.backends)
	if found {
		next[i] = b
	} else {
		next = slices.Insert(next, i, b)
	}
	t.backends = next
}
