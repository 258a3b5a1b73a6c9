package spool

import (
	"encoding/binary"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Stats are the spool's sizes, for metrics: kept as counters that every
// commit adjusts, so reading them costs nothing however large the spool.
type Stats struct {
	Mailboxes int64 // quarantined ones excepted
	Messages  int64 // records over all mailboxes; a message in two mailboxes counts twice
	Bytes     int64 // message files, each stored once
}

// statsDelta is what one op changes the counters by; the committer adds it
// once the transaction is durable.
type statsDelta struct{ mailboxes, messages, bytes int64 }

// counters are the store's running Stats.
type counters struct{ mailboxes, messages, bytes atomic.Int64 }

func (c *counters) add(d statsDelta) {
	c.mailboxes.Add(d.mailboxes)
	c.messages.Add(d.messages)
	c.bytes.Add(d.bytes)
}

// Stats reports the spool's sizes now.
func (s *Store) Stats() Stats {
	return Stats{Mailboxes: s.stats.mailboxes.Load(), Messages: s.stats.messages.Load(), Bytes: s.stats.bytes.Load()}
}

// countIndex sets the counters from the index, once at open.
func (s *Store) countIndex() error {
	var d statsDelta
	err := s.db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketMailboxes)
		err := root.ForEachBucket(func(k []byte) error {
			m, err := readMeta(root.Bucket(k), binary.BigEndian.Uint64(k))
			d.mailboxes++
			d.messages += int64(m.Messages)
			return err
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketBodies).ForEach(func(_, v []byte) error {
			if len(v) == 12 {
				d.bytes += int64(binary.BigEndian.Uint64(v[4:]))
			}
			return nil
		})
	})
	if err != nil {
		return fsError("count index", err)
	}
	s.stats.add(d)
	return nil
}
