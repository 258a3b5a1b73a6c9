// Package uidorder checks what a client learns of a mailbox against the
// promise IMAP makes it: under one UIDVALIDITY, a message new to the client
// has a UID above every UID the client knew, and a UID that left the
// mailbox never returns. Failover, merge and move tests feed it every UID
// list a watching client sees.
package uidorder

import (
	"fmt"
	"slices"
	"sync"

	"github.com/emersion/go-imap/v2"
)

// Order is one client's knowledge of one mailbox. The zero value is ready;
// it is safe for concurrent use.
type Order struct {
	mu          sync.Mutex
	uidValidity uint32
	top         imap.UID
	seen        map[imap.UID]bool
	gone        map[imap.UID]bool // seen, then missing from a later list
	violations  []string
}

// Observe records the UIDs a client saw in the mailbox under uidValidity,
// all of them (UID SEARCH ALL), noting every new UID below one known
// before, every UID back after it was missing, and any change of
// UIDVALIDITY.
func (o *Order) Observe(uidValidity uint32, uids []imap.UID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen == nil {
		o.seen = make(map[imap.UID]bool)
		o.gone = make(map[imap.UID]bool)
	}
	if o.uidValidity == 0 {
		o.uidValidity = uidValidity
	} else if uidValidity != o.uidValidity {
		o.violations = append(o.violations, fmt.Sprintf("uidvalidity %d became %d", o.uidValidity, uidValidity))
	}
	top := o.top
	present := make(map[imap.UID]bool, len(uids))
	for _, u := range uids {
		present[u] = true
		if o.gone[u] {
			o.violations = append(o.violations, fmt.Sprintf("UID %d came back after it was gone", u))
			delete(o.gone, u)
		}
		if o.seen[u] {
			continue
		}
		o.seen[u] = true
		if u < top {
			o.violations = append(o.violations, fmt.Sprintf("new UID %d appeared below %d", u, top))
		}
		o.top = max(o.top, u)
	}
	for u := range o.seen {
		if !present[u] {
			o.gone[u] = true
		}
	}
}

// Seen reports whether the client has seen UID u.
func (o *Order) Seen(u imap.UID) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seen[u]
}

// Learnt is how many distinct UIDs the client has seen.
func (o *Order) Learnt() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seen)
}

// Top is the highest UID the client has seen.
func (o *Order) Top() imap.UID {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.top
}

// Violations lists every breach of the promise seen so far.
func (o *Order) Violations() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.violations)
}
