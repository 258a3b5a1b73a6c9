package directory

// RaftStats is hashicorp/raft's own view of this node (state, term,
// indexes, last contact), for the metrics collector.
func (n *Node) RaftStats() map[string]string { return n.raft.Stats() }
