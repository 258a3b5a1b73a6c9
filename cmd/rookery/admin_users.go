package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/backend"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// Users as sites bring them: added with a password or a hash from another
// server, marked admin, or imported in bulk (admin_import.go).

// userAdd is `user add NAME [--hash HASH] [--admin]`: the password is read
// from stdin unless --hash gives a hash to keep as it is.
func (a *adminCmd) userAdd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	hash := fs.String("hash", "", "")
	admin := fs.Bool("admin", false, "")
	name, err := parseWithName(fs, args)
	if err != nil {
		return fmt.Errorf("user add: %w (usage: user add NAME [--hash HASH] [--admin])", err)
	}
	user, err := fsm.CanonicalUser(name)
	if err != nil {
		return err
	}
	if *hash != "" {
		if err := auth.ValidHash(*hash); err != nil {
			return fmt.Errorf("--hash refused: %w", err)
		}
	} else if *hash, err = a.hashFromStdin(); err != nil {
		return err
	}
	nodes, err := a.backendNodes(ctx, "")
	if err != nil {
		return err
	}
	res, err := a.addUser(ctx, nodes, fsm.UserAdd{Name: user, PasswordHash: *hash, At: time.Now().UnixNano()})
	if err != nil {
		return err
	}
	done := "added user " + user
	if *admin {
		// UserAdd has no admin field (commands never change), so the flag
		// is a second command; should it fail, the user is there without
		// it and `user admin NAME on` sets it.
		if res, err = a.client.Apply(ctx, fsm.UserAdmin{Name: user, Admin: true}); err == nil {
			err = res.Err
		}
		if err != nil {
			return fmt.Errorf("added user %s, but not as an admin: %w", user, err)
		}
		done += " as an admin"
	}
	return a.done(fmt.Sprintf("%s with INBOX (raft index %d)", done, res.Index), map[string]any{"index": res.Index})
}

// addUser adds a user and creates its INBOX on one of nodes.
func (a *adminCmd) addUser(ctx context.Context, nodes []directory.MemberStatus, add fsm.UserAdd) (fsm.Result, error) {
	res, err := a.client.Apply(ctx, add)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return res, err
	}
	if _, err := a.createOn(ctx, nodes, fsm.Inbox(add.Name)); err != nil {
		return res, fmt.Errorf("added user %s, but not its INBOX: %w", add.Name, err)
	}
	return res, nil
}

// userAdmin is `user admin NAME on|off`.
func (a *adminCmd) userAdmin(ctx context.Context, name, onOff string) error {
	var admin bool
	switch onOff {
	case "on":
		admin = true
	case "off":
	default:
		return errors.New("usage: user admin NAME on|off")
	}
	res, err := a.client.Apply(ctx, fsm.UserAdmin{Name: name, Admin: admin})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return err
	}
	line := fmt.Sprintf("%s is an admin", name)
	if !admin {
		line = fmt.Sprintf("%s is not an admin", name)
	}
	if res.Count == 0 {
		line += " already"
	}
	return a.done(fmt.Sprintf("%s (raft index %d)", line, res.Index), map[string]any{"index": res.Index, "admin": admin, "changed": res.Count > 0})
}

// parseWithName parses flags given before or after one positional
// argument, which it returns.
func parseWithName(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() == 0 {
		return "", errors.New("no name")
	}
	name := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected %q", fs.Arg(0))
	}
	return name, nil
}

// userDelete is `user delete NAME`: the account goes first (with its
// subscriptions and every ACL entry naming it, in one directory command),
// so that it can no longer log in or receive mail and its INBOX may be
// deleted; then each of its mailboxes is deleted by its primary backend,
// the mail with it. Interrupted, it is run again: a user already gone is
// no error while mailboxes of its name remain, and UserAdd refuses the
// name until they are all gone.
func (a *adminCmd) userDelete(ctx context.Context, name string) error {
	user, err := fsm.CanonicalUser(name)
	if err != nil {
		return err
	}
	res, err := a.client.Apply(ctx, fsm.UserDelete{Name: user})
	if err == nil {
		err = res.Err
	}
	resumed := errors.Is(err, fsm.ErrNoUser)
	if err != nil && !resumed {
		return err
	}
	list, err := a.client.Mailboxes(ctx, "user/"+user+"/", 0)
	if err != nil {
		return fmt.Errorf("deleted user %s, but could not list its mailboxes (run again): %w", user, err)
	}
	if resumed && len(list.Mailboxes) == 0 {
		return fmt.Errorf("%w: %s", fsm.ErrNoUser, user)
	}
	addrs, err := a.backendAddrs(ctx)
	if err != nil {
		return err
	}
	deleted := 0
	for _, mb := range list.Mailboxes {
		addr, ok := addrs[mb.Primary.Backend]
		if !ok {
			return fmt.Errorf("deleted user %s and %d mailboxes; %s is on %s, which has no healthy node (run again)", user, deleted, mb.Name, mb.Primary.Backend)
		}
		if err := backend.DeleteRemote(ctx, a.client.API(), addr, mb.Name); err != nil && !errors.Is(err, fsm.ErrNoMailbox) {
			return fmt.Errorf("deleted user %s and %d mailboxes; %s: %w (run again)", user, deleted, mb.Name, err)
		}
		deleted++
	}
	if list.Truncated {
		return fmt.Errorf("deleted user %s and %d mailboxes; more remain (run again)", user, deleted)
	}
	return a.done(fmt.Sprintf("deleted user %s and its %d mailboxes", user, deleted),
		map[string]any{"mailboxes": deleted})
}

// backendAddrs maps each healthy backend node's id to its cluster API
// address: a backend's id is its node's unless backend.id says otherwise,
// and a mailbox on such a backend is reported, not deleted.
func (a *adminCmd) backendAddrs(ctx context.Context) (map[string]string, error) {
	nodes, err := a.backendNodes(ctx, "")
	if err != nil {
		return nil, err
	}
	addrs := make(map[string]string, len(nodes))
	for _, n := range nodes {
		addrs[n.NodeID] = n.APIAddr
	}
	return addrs, nil
}
