package imapfront

import (
	"context"
	"errors"
	"fmt"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// read is one read of the directory at level, within DirectoryTimeout.
func (s *session) read(level directory.Level) (*fsm.View, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.cfg.Directory.Read(ctx, level)
}

// local is the local copy as it is, for the checks made on every command
// (placement, backend state); they read again when they act.
func (s *session) local() (*fsm.View, error) {
	return s.cfg.Directory.Read(context.Background(), directory.Local)
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

// lookup finds an active mailbox the user may see, in a synced read: the
// commands that name a mailbox (SELECT, EXAMINE, STATUS, APPEND, COPY's
// target, DELETE, RENAME, the ACL commands) see every change acknowledged
// before they began, through any frontend. A read of the local copy could
// find a name another frontend has just renamed away, and the backend,
// which keeps the mailbox under its new name, would open it: a SELECT of a
// name that no longer exists. The synced reads in flight on a node share
// one ReadIndex round.
func (s *session) lookup(name string) (*fsm.Mailbox, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	m, _, err := directory.Find(ctx, s.cfg.Directory, directory.Synced, func(v *fsm.View) (*fsm.Mailbox, bool) {
		m, ok := v.Mailbox(name)
		return m, ok && m.State == fsm.Active
	})
	switch {
	case m == nil && errors.Is(err, directory.ErrNotFound):
		return nil, fmt.Errorf("%w: %s", fsm.ErrNoMailbox, name)
	case m == nil:
		return nil, err
	}
	if !visible(s.user, m) {
		if m.State != fsm.Active && fsm.HasRight(s.user, m, 'l') {
			return nil, fmt.Errorf("%w: %s is %s", fsm.ErrNotActive, name, m.State)
		}
		return nil, fmt.Errorf("%w: %s", ErrNotVisible, name)
	}
	return m, nil
}

// need checks that the user holds right on m.
func (s *session) need(m *fsm.Mailbox, right byte) error {
	if !fsm.HasRight(s.user, m, right) {
		return fmt.Errorf("%w: %c on %s", ErrNoRights, right, m.Name)
	}
	return nil
}
