package node

import (
	"context"
	"errors"
	"time"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// AddUser adds a user through the directory.
func (n *Node) AddUser(ctx context.Context, name, password string) error {
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	res, err := n.dir.Apply(ctx, fsm.UserAdd{Name: name, PasswordHash: hash, At: time.Now().UnixNano()})
	if err == nil {
		err = res.Err
	}
	return err
}

// EnsureInbox creates user's INBOX on this node's backend unless it exists.
func (n *Node) EnsureInbox(ctx context.Context, user string) error {
	v, err := n.dir.Read(ctx, directory.Local)
	if err != nil {
		return err
	}
	if _, ok := v.Mailbox(fsm.Inbox(user)); ok {
		return nil
	}
	if n.backend == nil {
		return ErrNoBackend
	}
	_, err = n.backend.Create(ctx, fsm.Inbox(user), "")
	if errors.Is(err, fsm.ErrNameExists) {
		return nil
	}
	return err
}
