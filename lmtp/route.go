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

// parseAddress splits local[+detail]@domain. Quoted local parts and source
// routes are refused: no user name could match them.
func parseAddress(addr string) (local, detail, domain string, err error) {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", "", "", fmt.Errorf("%w: %q", ErrBadAddress, addr)
	}
	local, domain = addr[:at], strings.ToLower(addr[at+1:])
	if strings.ContainsAny(local, "\"\\ ,:<>") {
		return "", "", "", fmt.Errorf("%w: %q", ErrBadAddress, addr)
	}
	local, detail, _ = strings.Cut(local, "+")
	return local, detail, domain, nil
}

func (s *Server) domainServed(domain string) bool {
	return len(s.cfg.Domains) == 0 || slices.Contains(s.cfg.Domains, domain)
}

// resolve finds where a recipient's mail goes, from the local directory
// copy: a user unknown there gets one synced read before it is refused, so a
// user added a moment ago on another node is found.
func (s *Server) resolve(ctx context.Context, addr string) (recipient, error) {
	local, detail, domain, err := parseAddress(addr)
	if err != nil {
		return recipient{}, err
	}
	if !s.domainServed(domain) {
		return recipient{}, fmt.Errorf("%w: %s", ErrUnknownDomain, domain)
	}
	var user string
	var mb *fsm.Mailbox
	var terr error
	_, v, err := directory.Find(ctx, s.cfg.Directory, directory.Fresh, func(v *fsm.View) (struct{}, bool) {
		user, mb, terr = target(v, local, detail, domain)
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
		rcptTo = user + "@" + domain
	}
	if detail != "" {
		u, d, _ := strings.Cut(rcptTo, "@")
		rcptTo = u + "+" + detail + "@" + d
	}
	return recipient{addr: addr, rcptTo: rcptTo, mailbox: mb, backend: be}, nil
}

// target tries the whole address as a user name first (sites with one
// namespace of users per domain), then the local part alone.
func target(v *fsm.View, local, detail, domain string) (string, *fsm.Mailbox, error) {
	for _, name := range []string{local + "@" + domain, local} {
		user, err := fsm.CanonicalUser(name)
		if err != nil {
			continue
		}
		mb, err := v.DeliveryTarget(user, detail)
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
	return "", nil, fmt.Errorf("%w: %s@%s", ErrNoUser, local, domain)
}
