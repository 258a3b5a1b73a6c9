package fsm

import "fmt"

// Users: accounts that log in and receive mail.

func (f *FSM) registerUserHandlers() {
	on(f, (*FSM).userAdd)
	on(f, (*FSM).userPasswd)
	on(f, (*FSM).userQuota)
	on(f, (*FSM).userAdmin)
	on(f, (*FSM).userDelete)
}

func (f *FSM) userAdd(c UserAdd) Result {
	name, err := CanonicalUser(c.Name)
	if err != nil {
		return failed(err)
	}
	if c.QuotaBytes < 0 {
		return failed(fmt.Errorf("%w: negative quota", ErrInvalidCommand))
	}
	if _, ok := f.work.user(name); ok {
		return failed(ErrUserExists)
	}
	if a, ok := f.work.aliasOfUserName(name); ok {
		return failed(fmt.Errorf("%w: %s is an alias of %s", ErrAddressTaken, a.Address, a.User))
	}
	if f.work.hasMailboxes(userRoot + string(Separator) + name + string(Separator)) {
		return failed(fmt.Errorf("%w: mailboxes of a deleted account %s remain", ErrUserExists, name))
	}
	f.putUser(&User{
		Name:         name,
		PasswordHash: c.PasswordHash,
		State:        UserActive,
		QuotaBytes:   c.QuotaBytes,
		CreatedAt:    c.At,
	})
	return Result{Count: 1}
}

// userPasswd, userQuota and userAdmin count 0 when the record already
// says what the command sets, so that a re-run import can tell "already
// there" from "updated".
func (f *FSM) userPasswd(c UserPasswd) Result {
	old, err := f.existingUser(c.Name)
	if err != nil {
		return failed(err)
	}
	if old.PasswordHash == c.PasswordHash {
		return Result{}
	}
	u := *old
	u.PasswordHash = c.PasswordHash
	f.putUser(&u)
	return Result{Count: 1}
}

func (f *FSM) userQuota(c UserQuota) Result {
	if c.QuotaBytes < 0 {
		return failed(fmt.Errorf("%w: negative quota", ErrInvalidCommand))
	}
	old, err := f.existingUser(c.Name)
	if err != nil {
		return failed(err)
	}
	if old.QuotaBytes == c.QuotaBytes {
		return Result{}
	}
	u := *old
	u.QuotaBytes = c.QuotaBytes
	f.putUser(&u)
	return Result{Count: 1}
}

func (f *FSM) userAdmin(c UserAdmin) Result {
	old, err := f.existingUser(c.Name)
	if err != nil {
		return failed(err)
	}
	if old.Admin == c.Admin {
		return Result{}
	}
	u := *old
	u.Admin = c.Admin
	f.putUser(&u)
	return Result{Count: 1}
}

// userDelete also drops the user's subscriptions and every ACL entry that
// names the user, so that a new account of the same name starts clean.
// The user's mailboxes stay: removing mail is the backends' work, driven by
// MarkDeleting and Remove (rookery admin user delete does it next, and an
// INBOX may be marked only once its user is gone). Until they are gone
// UserAdd refuses the name.
func (f *FSM) userDelete(c UserDelete) Result {
	u, err := f.existingUser(c.Name)
	if err != nil {
		return failed(err)
	}
	f.work.users.Delete(u)
	f.dirty |= dirtyUsers
	for _, name := range f.work.subscriptions(u.Name) {
		f.work.subs.Delete(subscription{user: u.Name, name: name})
		f.dirty |= dirtySubs
	}
	f.dropGrants(u.Name)
	f.dropAliases(u.Name)
	return Result{Count: 1}
}

func (f *FSM) existingUser(name string) (*User, error) {
	canon, err := CanonicalUser(name)
	if err != nil {
		return nil, err
	}
	u, ok := f.work.user(canon)
	if !ok {
		return nil, ErrNoUser
	}
	return u, nil
}

func (f *FSM) putUser(u *User) {
	f.work.users.ReplaceOrInsert(u)
	f.dirty |= dirtyUsers
}
