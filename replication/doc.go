// Package replication keeps the copies of each mailbox on several
// backends (DESIGN "Replication and failover"): the protocol a primary
// speaks over the cluster API (Client, Server), and the primary's side
// that drives it (Replicator): the acknowledgement path the store calls
// after each commit, the in-sync set, the catch-up loop and the merges of
// diverged copies, UID floors, and live moves of a mailbox to another
// backend. The storage engine's transactions (spool) are what it drives;
// the backend role (package backend) builds a Replicator from its
// configuration and hooks it to the store and the cluster API.
//
// Its DESIGN.md holds the lock hierarchy.
package replication
