package spool

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Messages returns every record of mailbox id in UID order.
func (s *Store) Messages(id uint64) ([]Message, error) {
	var out []Message
	err := s.visibleView(id, func(tx *bolt.Tx) error {
		_, uids, _, err := loadMailbox(tx, id)
		if err != nil {
			return err
		}
		return uids.ForEach(func(_, v []byte) error {
			m, err := decodeRecord(v)
			out = append(out, m)
			return err
		})
	})
	return out, err
}

// Message returns the record of uid in mailbox id.
func (s *Store) Message(id uint64, uid uint32) (Message, error) {
	var m Message
	err := s.visibleView(id, func(tx *bolt.Tx) error {
		_, uids, _, err := loadMailbox(tx, id)
		if err != nil {
			return err
		}
		var ok bool
		m, ok, err = getRecord(uids, uid)
		if err == nil && !ok {
			err = fmt.Errorf("%w: mailbox %d uid %d", ErrNoMessage, id, uid)
		}
		return err
	})
	return m, err
}

// Size adds up the sizes of those of uids that mailbox id holds.
func (s *Store) Size(id uint64, uids []uint32) (int64, error) {
	var n int64
	err := s.visibleView(id, func(tx *bolt.Tx) error {
		_, recs, _, err := loadMailbox(tx, id)
		if err != nil {
			return err
		}
		for _, uid := range uids {
			m, ok, err := getRecord(recs, uid)
			if err != nil {
				return err
			}
			if ok {
				n += m.Size
			}
		}
		return nil
	})
	return n, err
}
