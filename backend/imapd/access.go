package imapd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// Rights (RFC 4314) that the session checks.
const (
	rightLookup     = 'l'
	rightRead       = 'r'
	rightSeen       = 's'
	rightWrite      = 'w'
	rightInsert     = 'i'
	rightCreate     = 'k'
	rightDelete     = 'x'
	rightDeleteMsgs = 't'
	rightExpunge    = 'e'
)

// internalName turns a client's mailbox name into the canonical one.
func (s *session) internalName(external string) (string, error) {
	return fsm.Internal(s.user, strings.TrimSuffix(external, string(fsm.Separator)))
}

// findMailbox looks a mailbox up in a fresh read of the directory, and
// after a synced read when the name is missing or the mailbox is not yet
// ready, so that a CREATE (or a failover, a move) on any node is seen
// here. A mailbox that is there but not ready even then is returned for
// the caller to judge.
func (s *session) findMailbox(ctx context.Context, name string, ready func(*fsm.Mailbox) bool) (*fsm.Mailbox, error) {
	m, _, err := directory.Find(ctx, s.srv.cfg.Directory, directory.Fresh, func(v *fsm.View) (*fsm.Mailbox, bool) {
		m, ok := v.Mailbox(name)
		return m, ok && ready(m)
	})
	switch {
	case m != nil:
		return m, nil
	case errors.Is(err, directory.ErrNotFound):
		return nil, fsm.ErrNoMailbox
	default:
		return nil, fmt.Errorf("%w: %w", ErrDirectory, err)
	}
}

func exists(*fsm.Mailbox) bool { return true }

// openable finds an active mailbox served here on which the user has
// every right in want.
func (s *session) openable(ctx context.Context, external string, want string) (*fsm.Mailbox, error) {
	name, err := s.internalName(external)
	if err != nil {
		return nil, err
	}
	// The frontend sent the client here from its own directory copy, which
	// may be ahead of this one (just after a failover or a move): a mailbox
	// not active here is looked at again after a synced read before it is
	// turned away.
	m, err := s.findMailbox(ctx, name, func(m *fsm.Mailbox) bool {
		return m.State == fsm.Active && m.Primary.Backend == s.srv.cfg.BackendID
	})
	if err != nil {
		return nil, err
	}
	if err := s.allowed(m, want); err != nil {
		// A grant acknowledged on another node may not have reached this
		// copy yet: refuse only what a synced read refuses too.
		if m, err = s.syncedRecord(ctx, name); err != nil {
			return nil, err
		}
		if err := s.allowed(m, want); err != nil {
			return nil, err
		}
	}
	if m.State != fsm.Active {
		return nil, fmt.Errorf("%w: %s is %s", ErrUnavailable, m.Name, m.State)
	}
	if m.Primary.Backend != s.srv.cfg.BackendID {
		return nil, fmt.Errorf("%w: %s is on %s", ErrNotHere, m.Name, m.Primary.Backend)
	}
	return m, nil
}

// syncedRecord is name's record in a synced read of the directory.
func (s *session) syncedRecord(ctx context.Context, name string) (*fsm.Mailbox, error) {
	v, err := s.srv.cfg.Directory.Read(ctx, directory.Synced)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	m, ok := v.Mailbox(name)
	if !ok {
		return nil, fsm.ErrNoMailbox
	}
	return m, nil
}

func (s *session) has(m *fsm.Mailbox, right byte) bool {
	return fsm.HasRight(s.user, m, right)
}

// allowed checks the rights in want. A user who may not even see the
// mailbox is told it does not exist (RFC 4314 section 6).
func (s *session) allowed(m *fsm.Mailbox, want string) error {
	have := fsm.Rights(s.user, m)
	for _, r := range want {
		if strings.ContainsRune(have, r) {
			continue
		}
		if !strings.ContainsRune(have, rightLookup) && !strings.ContainsRune(have, rightRead) {
			return fsm.ErrNoMailbox
		}
		return fmt.Errorf("%w: %q lacks %q on %s", ErrNoPermission, s.user, r, m.Name)
	}
	return nil
}

// mayCreate checks that the user may create name: in their own namespace
// always, elsewhere with the create right on the parent.
func (s *session) mayCreate(ctx context.Context, name string) error {
	if fsm.Owner(name) == s.user {
		return nil
	}
	parent := fsm.Parent(name)
	if parent == "" {
		return fmt.Errorf("%w: %q may not create %s", ErrNoPermission, s.user, name)
	}
	m, err := s.findMailbox(ctx, parent, exists)
	if err != nil {
		return fmt.Errorf("%w: %q may not create %s", ErrNoPermission, s.user, name)
	}
	return s.allowed(m, string(rightCreate))
}
