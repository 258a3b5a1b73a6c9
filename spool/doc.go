// Package spool is a backend's mail store: immutable message files shared
// by content hash, a bbolt index of per-mailbox records, UID slots, group
// commit, and the storage transactions that replication drives (state,
// change batches, applying and merging copies). It is the storage engine
// alone: it imports no other package of the project and knows nothing of
// the directory or the network. See DESIGN.md beside it.
package spool
