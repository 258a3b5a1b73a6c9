// Package fsm is the replicated mailbox directory: the state that the Raft
// log carries (mailboxes, users, subscriptions, backends, the cluster-wide
// counters), its commands and their deterministic apply, snapshots, and the
// rules of mailbox names. It imports no other package of the project; the
// directory package wraps it in a Raft node. See DESIGN.md beside it.
package fsm
