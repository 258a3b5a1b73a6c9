package lmtp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// recipient is one accepted RCPT: the address as the client gave it and the
// mailbox and backend it resolved to.
type recipient struct {
	addr    string
	rcptTo  string // the address sent on to the backend: canonical user, detail, domain
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
	var user string
	var mb *fsm.Mailbox
	var terr error
	_, v, err := directory.Find(ctx, s.cfg.Directory, directory.Fresh, func(v *fsm.View) (struct{}, bool) {
		user, mb, terr = target(v, rcpt)
		return struct{}{}, !errors.Is(terr, ErrNoUser)
	})
	switch {
	case v == nil:
		return recipient{}, fmt.Errorf("%w: directory: %v", ErrUnavailable, err)
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
	rcptTo := user
	if !strings.Contains(user, "@") {
		rcptTo = user + "@" + rcpt.Domain
	}
	if rcpt.Detail != "" {
		u, d, _ := strings.Cut(rcptTo, "@")
		rcptTo = u + "+" + rcpt.Detail + "@" + d
	}
	return recipient{addr: addr, rcptTo: rcptTo, mailbox: mb, backend: be}, nil
}

// target tries the recipient's user names in turn (fsm.Recipient.Users):
// the whole address first, then the local part alone.
func target(v *fsm.View, rcpt fsm.Recipient) (string, *fsm.Mailbox, error) {
	for _, user := range rcpt.Users() {
		mb, err := v.DeliveryTarget(user, rcpt.Detail)
		switch {
		case err == nil:
			return user, mb, nil
		case errors.Is(err, fsm.ErrNoUser):
			continue
		case errors.Is(err, fsm.ErrNoMailbox):
			return "", nil, fmt.Errorf("%w: %s has no inbox", ErrUnavailable, user)
		default:
			return "", nil, err
		}
	}
	return "", nil, fmt.Errorf("%w: %s@%s", ErrNoUser, rcpt.User, rcpt.Domain)
}
