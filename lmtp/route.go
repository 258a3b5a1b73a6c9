package lmtp

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// recipient is one accepted RCPT: the address as the client gave it and the
// mailbox and backend it resolved to.
type recipient struct {
	addr    string // as the client gave it, and as it is sent on to the backend
	mailbox *fsm.Mailbox
	backend *fsm.Backend
}

func (s *Server) domainServed(domain string) bool {
	return len(s.cfg.Domains) == 0 || slices.Contains(s.cfg.Domains, domain)
}

// resolve finds where a recipient's mail goes, from the local directory
// copy: a user unknown there gets one synced read before it is refused, so a
// user added a moment ago on another node is found.
func (s *Server) resolve(ctx context.Context, addr string) (recipient, error) {
	rcpt, err := fsm.ParseRecipient(addr)
	if err != nil {
		return recipient{}, fmt.Errorf("%w: %w", ErrBadAddress, err)
	}
	if !s.domainServed(rcpt.Domain) {
		return recipient{}, fmt.Errorf("%w: %s", ErrUnknownDomain, rcpt.Domain)
	}
	var mb *fsm.Mailbox
	var terr error
	find := func() (*fsm.View, error) {
		_, v, err := directory.Find(ctx, s.cfg.Directory, directory.Fresh, func(v *fsm.View) (struct{}, bool) {
			_, mb, terr = v.Deliver(rcpt)
			return struct{}{}, !errors.Is(terr, fsm.ErrNoUser)
		})
		return v, err
	}
	v, err := find()
	if v != nil && errors.Is(terr, fsm.ErrNoUser) && s.cfg.Recipients != nil {
		made, perr := s.cfg.Recipients.Provision(ctx, rcpt)
		if perr != nil {
			return recipient{}, fmt.Errorf("%w: %w", ErrUnavailable, perr)
		}
		if made {
			v, err = find()
		}
	}
	switch {
	case v == nil:
		return recipient{}, fmt.Errorf("%w: directory: %v", ErrUnavailable, err)
	case errors.Is(terr, fsm.ErrNoDomain):
		return recipient{}, fmt.Errorf("%w: %w", ErrUnknownDomain, terr)
	case errors.Is(terr, fsm.ErrNoUser):
		return recipient{}, fmt.Errorf("%w: %s@%s", ErrNoUser, rcpt.User, rcpt.Domain)
	case errors.Is(terr, fsm.ErrNoMailbox):
		return recipient{}, fmt.Errorf("%w: %w", ErrUnavailable, terr)
	case terr != nil:
		return recipient{}, terr
	}
	if mb.State != fsm.Active {
		return recipient{}, fmt.Errorf("%w: %s is %s", ErrUnavailable, mb.Name, mb.State)
	}
	be, ok := v.Backend(mb.Primary.Backend)
	if !ok || be.State == fsm.BackendDown || be.LMTPAddr == "" {
		return recipient{}, fmt.Errorf("%w: %s", ErrBackendDown, mb.Primary.Backend)
	}
	// The backend resolves the address as given with the same rule
	// (fsm.View.Deliver), aliases and domains included.
	return recipient{addr: addr, mailbox: mb, backend: be}, nil
}
