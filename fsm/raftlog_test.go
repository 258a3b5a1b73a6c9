package fsm

import "github.com/hashicorp/raft"

func logAt(index uint64, data []byte) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
}
