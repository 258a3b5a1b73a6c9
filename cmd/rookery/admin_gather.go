package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/rookery-mail/rookery/fsm"
)

// userGather is `rookery admin user gather NAME`: it moves each of a
// user's mailboxes whose primary is not the backend of the user's INBOX
// there, one live move at a time, so sessions on them are kept. Folders
// made while the INBOX's backend was down, or before folders followed the
// INBOX, end up together; other users' and shared mailboxes stay.
func (a *adminCmd) userGather(ctx context.Context, name string) error {
	user, err := fsm.CanonicalUser(name)
	if err != nil {
		return fmt.Errorf("usage: rookery admin user gather NAME: %w", err)
	}
	list, err := a.client.Mailboxes(ctx, fsm.Inbox(user), 1)
	if err != nil {
		return err
	}
	if len(list.Mailboxes) == 0 || list.Mailboxes[0].Name != fsm.Inbox(user) {
		return fmt.Errorf("%s has no INBOX", user)
	}
	home := list.Mailboxes[0].Primary.Backend
	prefix := strings.TrimSuffix(fsm.Inbox(user), "INBOX") // user/NAME/
	if list, err = a.client.Mailboxes(ctx, prefix, maxDrainList); err != nil {
		return err
	}
	if list.Truncated {
		fmt.Fprintf(os.Stderr, "only the first %d mailboxes of %s were looked at; run gather again\n", maxDrainList, user)
	}
	var names []string
	for _, m := range list.Mailboxes {
		if fsm.Owner(m.Name) == user && m.State == fsm.Active && m.Primary.Backend != home {
			names = append(names, m.Name)
		}
	}
	addr := ""
	if len(names) > 0 {
		if addr, err = a.backendNode(ctx); err != nil {
			return err
		}
	}
	failed := 0
	for i, name := range names {
		if !a.json {
			fmt.Fprintf(a.out, "[%d/%d] ", i+1, len(names))
		}
		if _, err := a.move(ctx, addr, name, home); err != nil {
			failed++
		}
	}
	if !a.json {
		fmt.Fprintf(a.out, "gathered %s on %s: %d mailboxes moved, %d failed\n", user, home, len(names)-failed, failed)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d moves failed", failed, len(names))
	}
	return nil
}
