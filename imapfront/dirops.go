package imapfront

import (
	"fmt"

	"github.com/rookery-mail/rookery/fsm"
)

// freshRead makes the local copy fresh within the staleness bound.
func (s *session) freshRead() error {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.cfg.Directory.FreshRead(ctx)
}

// syncedRead brings the local copy up to the leader's commit index.
func (s *session) syncedRead() error {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.cfg.Directory.SyncedRead(ctx)
}

// apply writes to the directory and waits until the local copy has the
// change, so that the session reads its own writes.
func (s *session) apply(c fsm.Command) error {
	ctx, cancel := s.ctx()
	defer cancel()
	res, err := s.cfg.Directory.Apply(ctx, c)
	if err != nil {
		return err
	}
	if res.Err != nil {
		return res.Err
	}
	return s.cfg.Directory.WaitApplied(ctx, res.Index)
}

// lookup finds an active mailbox the user may see: a local read, then a
// synced read when the local copy lacks it (it may have just been created
// through another frontend).
func (s *session) lookup(name string) (*fsm.Mailbox, error) {
	if err := s.freshRead(); err != nil {
		return nil, err
	}
	dir := s.cfg.Directory.FSM()
	m, ok := dir.Mailbox(name)
	if !ok || m.State != fsm.Active {
		if err := s.syncedRead(); err != nil {
			return nil, err
		}
		if m, ok = dir.Mailbox(name); !ok {
			return nil, fmt.Errorf("%w: %s", fsm.ErrNoMailbox, name)
		}
	}
	if !visible(s.user, m) {
		if m.State != fsm.Active && hasRight(s.user, m, 'l') {
			return nil, fmt.Errorf("%w: %s is %s", fsm.ErrNotActive, name, m.State)
		}
		return nil, fmt.Errorf("%w: %s", ErrNotVisible, name)
	}
	return m, nil
}

// need checks that the user holds right on m.
func (s *session) need(m *fsm.Mailbox, right byte) error {
	if !hasRight(s.user, m, right) {
		return fmt.Errorf("%w: %c on %s", ErrNoRights, right, m.Name)
	}
	return nil
}
