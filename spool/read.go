package spool

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Messages returns every record of mailbox id in UID order.
func (s *Store) Messages(id uint64) ([]Message, error) {
	var out []Message
	err := s.visibleView(func(tx *bolt.Tx) error {
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
	err := s.visibleView(func(tx *bolt.Tx) error {
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
